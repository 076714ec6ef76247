"""Write-back: a PE's accumulators through the shared post-processing unit into its outputs."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import ACC_WIDTH, ACT_WIDTH
from tessera.golden.errors import check_int

from ..postproc import PostProcessor
from .configwrite import configured_memory, write_members
from .protocol import params_layout, run_layout

__all__ = ["WriteBack"]


class WriteBack(wiring.Component):
    """Requantize a PE's accumulators, row by row, into its destination buffer and out.

    For each local row ``r`` of the PE in the layer (global row ``r * N + pe < rows``), in
    order: read and clear accumulator ``r``, read the parameter row ``param_base + r`` (bias,
    multiplier, shift), and send them through a :class:`tessera.hw.postproc.PostProcessor` (the unit
    every engine of tessera ends with). Each result is written to destination activation ``r``
    (unless ``raw``: an int32 does not fit an int8 buffer) and, when ``emit``, offered on ``o``.

    Parameters
    ----------
    config : SparseConfig
    pe : int
        This PE's index (its first global row).

    Members
    -------
    w_en, w_addr, w_data : In
        Configuration write of parameter row ``w_addr``
        (:data:`tessera.hw.sparse.protocol.params_layout`).
    start : In(1)
        A layer starts: rewind to row 0.
    active : In(1)
        Write-back phase: read one row per cycle while the post-processor takes them.
    layer : In(run_layout)
        The layer's RUN fields (``rows``, ``param_base``, ``relu``, ``raw``, ``emit``; its
        ``ptr_base`` is not used here), held during a layer.
    acc_en, acc_addr : Out
        Read-and-clear of an accumulator (:class:`ArithmeticUnit` ``wb_*``).
    acc_data : In(signed(32))
        Its value, one cycle later.
    dst_en, dst_addr, dst_data : Out
        Destination buffer write (:class:`ActRW` ``wr_*``).
    o : Out(stream.Signature(signed(32)))
        The PE's outputs in row order, when ``emit``; without ``emit`` they are not offered and
        never wait.
    done : Out(1)
        Every row of the layer has left the post-processor.

    Timing
    ------
    Unstalled, row ``r`` is read in the ``r + 1``-th active cycle, is registered in the next
    one, enters the post-processor one cycle later and leaves it :attr:`PostProcessor.LATENCY`
    cycles after that. Back-pressure on ``o`` stalls the post-processor, then the registers,
    then the reads; nothing is lost.
    """

    def __init__(self, config, *, pe):
        self.config = config
        self.pe = check_int(pe, "pe", 0, config.n_pes - 1)
        addr = ceil_log2(config.act_depth) or 1
        super().__init__({
            **write_members(config.param_depth, params_layout),
            "start": In(1),
            "active": In(1),
            "layer": In(run_layout),
            "acc_en": Out(1),
            "acc_addr": Out(addr),
            "acc_data": In(signed(ACC_WIDTH)),
            "dst_en": Out(1),
            "dst_addr": Out(addr),
            "dst_data": Out(signed(ACT_WIDTH)),
            "o": Out(stream.Signature(signed(ACC_WIDTH))),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        n = cfg.n_pes
        pr = configured_memory(m, "params", self, params_layout, cfg.param_depth)
        m.submodules.postproc = pp = PostProcessor(acc_width=ACC_WIDTH)

        rd_local = Signal(ceil_log2(cfg.act_depth + 1))
        rd_global = Signal(cfg.global_width)
        out_local = Signal(ceil_log2(cfg.act_depth + 1))
        out_global = Signal(cfg.global_width)
        held = Signal()  # the read ports show a row that has not moved on yet
        with m.If(self.start):
            m.d.sync += [rd_local.eq(0), rd_global.eq(self.pe),
                         out_local.eq(0), out_global.eq(self.pe)]

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
            self.acc_en.eq(read),
            self.acc_addr.eq(rd_local),
            pr.addr.eq(self.layer.param_base + rd_local),
            pr.en.eq(read),
        ]
        with m.If(read):
            m.d.sync += [held.eq(1), rd_local.eq(rd_local + 1), rd_global.eq(rd_global + n)]
        with m.Elif(advance):
            m.d.sync += held.eq(0)
        with m.If(advance):
            m.d.sync += [staged.eq(1), stage_acc.eq(self.acc_data), stage_params.eq(pr.data)]
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
        m.d.comb += [
            self.dst_en.eq(out & ~self.layer.raw),
            self.dst_addr.eq(out_local),
            self.dst_data.eq(pp.o.payload[:ACT_WIDTH]),
            self.done.eq(out_global >= self.layer.rows),
        ]
        with m.If(out):
            m.d.sync += [out_local.eq(out_local + 1), out_global.eq(out_global + n)]
        return m
