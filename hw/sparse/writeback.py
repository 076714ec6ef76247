"""Write-back: every PE's accumulators, in row order, through one post-processor for the array."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import ACC_WIDTH, ACT_WIDTH

from ..postproc import PostProcessor
from .configwrite import configured_memory, write_members
from .protocol import params_layout, run_layout

__all__ = ["WriteBack"]


class WriteBack(wiring.Component):
    """Requantize the layer's rows, in global row order, into the PEs' destination buffers and
    out, through one :class:`tessera.hw.postproc.PostProcessor` shared by every PE.

    For each global row ``i < rows``, in order: read and clear accumulator ``i // N`` of PE
    ``i % N``, read parameter row ``param_base * N + i`` of the array's parameter memory (bias,
    multiplier, shift), and send them through the post-processor (the unit every engine of
    tessera ends with). Each result is written to destination activation ``i // N`` of PE
    ``i % N`` (unless ``raw``: an int32 does not fit an int8 buffer) and, when ``emit``, offered
    on ``o``.

    One post-processor for the array, not one per PE as in EIE: a post-processor is about 300
    flip-flops and 2 DSP blocks, a PE without it about 800 flip-flops. Write-back then takes one
    cycle per row whether or not the outputs are sent (they leave in row order, one a cycle,
    either way), where a post-processor per PE took ``ceil(rows / N)`` without ``emit``.

    The parameter memory holds ``param_depth`` rows per PE, as the protocol addresses them:
    row ``r`` of PE ``k`` (a PARAMS command's ``addr`` and ``pe``) is word ``r * N + k``, so a
    layer's parameters are the consecutive words from ``param_base * N``.

    Parameters
    ----------
    config : SparseConfig

    Members
    -------
    w_en, w_addr, w_data : In
        Configuration write of parameter word ``w_addr`` (``r * N + k``;
        :data:`tessera.hw.sparse.protocol.params_layout`).
    start : In(1)
        A layer starts: rewind to row 0.
    active : In(1)
        Write-back phase: read one row per cycle while the post-processor takes them.
    layer : In(run_layout)
        The layer's RUN fields (``rows``, ``param_base``, ``relu``, ``raw``, ``emit``; its
        ``ptr_base`` is not used here), held during a layer.
    acc_en : Out(1).array(N)
        Read-and-clear of accumulator ``acc_addr`` of PE ``k`` (its :class:`ArithmeticUnit`'s
        ``wb_*``); at most one is high.
    acc_addr : Out
    acc_data : In(signed(32)).array(N)
        Each PE's accumulator read, one cycle after its ``acc_en`` and held until the next.
    dst_en : Out(1).array(N)
        Destination buffer write of PE ``k`` (its :class:`ActRW` ``wr_*``); at most one is high.
    dst_addr, dst_data : Out
    o : Out(stream.Signature(signed(32)))
        The layer's outputs in row order, when ``emit``; without ``emit`` they are not offered
        and never wait.
    done : Out(1)
        Every row of the layer has left the post-processor.

    Timing
    ------
    Unstalled, row ``i`` is read in the ``i + 1``-th active cycle, is registered in the next
    one (the PE's read selected there), enters the post-processor one cycle later and leaves it
    :attr:`PostProcessor.LATENCY` cycles after that, so the array's write-back phase takes
    ``rows + 10`` cycles (:func:`tessera.golden.sparse_cycles.writeback_cycles`).
    Back-pressure on ``o`` stalls the post-processor, then the registers, then the reads;
    nothing is lost.
    """

    def __init__(self, config):
        self.config = config
        addr = ceil_log2(config.act_depth) or 1
        n = config.n_pes
        super().__init__({
            **write_members(config.param_depth * n, params_layout),
            "start": In(1),
            "active": In(1),
            "layer": In(run_layout),
            "acc_en": Out(1).array(n),
            "acc_addr": Out(addr),
            "acc_data": In(signed(ACC_WIDTH)).array(n),
            "dst_en": Out(1).array(n),
            "dst_addr": Out(addr),
            "dst_data": Out(signed(ACT_WIDTH)),
            "o": Out(stream.Signature(signed(ACC_WIDTH))),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        n = cfg.n_pes
        pr = configured_memory(m, "params", self, params_layout, cfg.param_depth * n)
        m.submodules.postproc = pp = PostProcessor(acc_width=ACC_WIDTH)

        # Where the reads and the outputs are: global row, and the PE and local row it lives in.
        local_width = ceil_log2(cfg.act_depth + 1)
        rd_pe = Signal(range(max(n, 2)))
        rd_local = Signal(local_width)
        rd_global = Signal(cfg.global_width)
        out_pe = Signal(range(max(n, 2)))
        out_local = Signal(local_width)
        out_global = Signal(cfg.global_width)
        held = Signal()  # the read ports show a row that has not moved on yet
        held_pe = Signal.like(rd_pe)  # the PE whose read port shows it
        with m.If(self.start):
            m.d.sync += [rd_pe.eq(0), rd_local.eq(0), rd_global.eq(0),
                         out_pe.eq(0), out_local.eq(0), out_global.eq(0)]

        # Two stages before the post-processor: the read ports (which keep their data until
        # the next read), then registers (a block RAM's output is too slow for the bias add).
        taken = pp.i.valid & pp.i.ready
        staged = Signal()  # the registers hold a row
        stage_acc = Signal(signed(ACC_WIDTH))
        stage_params = Signal(params_layout)
        advance = Signal()  # the read ports' row moves into the registers
        read = Signal()
        m.d.comb += [
            advance.eq(held & (~staged | taken)),
            read.eq(self.active & (rd_global < self.layer.rows) & (~held | advance)),
            self.acc_addr.eq(rd_local),
            pr.addr.eq(self.layer.param_base * n + rd_global),
            pr.en.eq(read),
        ]
        for k in range(n):
            m.d.comb += self.acc_en[k].eq(read & (rd_pe == k))
        with m.If(read):
            m.d.sync += [held.eq(1), held_pe.eq(rd_pe), rd_global.eq(rd_global + 1)]
            with m.If(rd_pe == n - 1):
                m.d.sync += [rd_pe.eq(0), rd_local.eq(rd_local + 1)]
            with m.Else():
                m.d.sync += rd_pe.eq(rd_pe + 1)
        with m.Elif(advance):
            m.d.sync += held.eq(0)
        acc_data = Array(self.acc_data)[held_pe] if n > 1 else self.acc_data[0]
        with m.If(advance):
            m.d.sync += [staged.eq(1), stage_acc.eq(acc_data), stage_params.eq(pr.data)]
        with m.Elif(taken):
            m.d.sync += staged.eq(0)

        m.d.comb += [
            pp.i.valid.eq(staged),
            pp.i.payload.acc.eq(stage_acc),
            pp.i.payload.bias.eq(stage_params.bias),
            pp.i.payload.multiplier.eq(stage_params.multiplier),
            pp.i.payload.shift.eq(stage_params.shift),
            pp.i.payload.relu.eq(self.layer.relu),
            pp.i.payload.raw.eq(self.layer.raw),
            self.o.valid.eq(pp.o.valid & self.layer.emit),
            self.o.payload.eq(pp.o.payload),
            pp.o.ready.eq(~self.layer.emit | self.o.ready),
        ]
        out = pp.o.valid & pp.o.ready
        for k in range(n):
            m.d.comb += self.dst_en[k].eq(out & ~self.layer.raw & (out_pe == k))
        m.d.comb += [
            self.dst_addr.eq(out_local),
            self.dst_data.eq(pp.o.payload[:ACT_WIDTH]),
            self.done.eq(out_global >= self.layer.rows),
        ]
        with m.If(out):
            m.d.sync += out_global.eq(out_global + 1)
            with m.If(out_pe == n - 1):
                m.d.sync += [out_pe.eq(0), out_local.eq(out_local + 1)]
            with m.Else():
                m.d.sync += out_pe.eq(out_pe + 1)
        return m
