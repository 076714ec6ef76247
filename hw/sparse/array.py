"""The sparse PE array: N EIE-style PEs, the non-zero detector and broadcast, the host interface."""

from amaranth import *
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.config.sparse import ACC_WIDTH, ACT_LANES, FIELD_WIDTH, SparseConfig

from .broadcast import Broadcast
from .detector import NonZeroDetector
from .pe import COUNTER_WIDTH, SparsePE
from .protocol import Error, Op, command_layout, params_layout, run_layout
from .writeback import WriteBack

__all__ = ["SparseArray"]


class _State(enum.Enum, shape=3):
    CLEAR = 0
    IDLE = 1
    COMPUTE = 2
    WRITEBACK = 3
    STATS = 4


def _mux_tree(m, values, select, name):
    """Return ``values[select]`` as a binary tree of two-input multiplexers.

    Every node is its own signal, so a simulator re-evaluates only the path of an input that
    changed (the per-PE counters change every cycle; one wide multiplexer over all of them made
    Icarus re-run it 2N times a cycle). Indices past the end select the last value.
    """
    level = [Value.cast(v) for v in values]
    width = max(len(v) for v in level)
    bit = 0
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        parents = []
        for i in range(0, len(level), 2):
            node = Signal(width, name=f"{name}_{bit}_{i // 2}")
            m.d.comb += node.eq(Mux(select[bit], level[i + 1], level[i]))
            parents.append(node)
        level = parents
        bit += 1
    return level[0]


class SparseArray(wiring.Component):
    """EIE's sparse matrix-vector engine: ``y = requantize(W x)`` on ``n_pes`` PEs.

    ::

          i (commands) --> decode --+--> config writes --> PE 0 .. PE N-1 memories,
                                    |                      the parameter memory
                                    +--> RUN ----------+
                                                       v
        PE k source buffers --lanes--> NonZeroDetector (LNZD tree) --(j, x_j)--> broadcast
                                                                                 |  waits while a
              +------------------+----- ... ----+------------------+ <-----------+  queue was almost
                                                                                    full last cycle
              v                  v              v                  v
            PE 0               PE 1            ...             PE N-1     (rows i % N == k)
              |                  |              |                  |    accumulators
              +------------------+---- ... -----+------------------+
              v  row i from PE i % N, in row order
            WriteBack (one PostProcessor) --> PE i % N's destination buffer
              +--> o (outputs, then STATS words on request)

    A layer (RUN) has two phases. *Compute* starts the cycle after the RUN is taken and ends
    with the first cycle in which the detector has sent every non-zero and every PE is idle.
    *Write-back* follows: one post-processor for the whole array requantizes the rows in
    order, one a cycle (:class:`WriteBack`), writes each into its PE's destination buffer and,
    when the RUN asks, sends them on ``o``.
    At its end the buffers swap (not after a ``raw`` layer), so the next RUN reads this layer's
    outputs as its inputs. Commands wait (``i.ready`` low) while a layer runs.

    The command set, the payload layouts and the error bits are in
    :mod:`tessera.hw.sparse.protocol`; :mod:`tessera.sim.host.sparse` builds command streams
    from a matrix in EIE format.

    Counters (read with STATS, cleared by the next RUN): ``cycles`` of the compute phase,
    ``writeback_cycles``, ``nonzeros`` broadcast, and per PE ``busy`` (cycles in which it issued
    an entry, padding included) and ``stall`` (cycles in which the broadcast waited on its
    queue, almost full in the cycle before). :mod:`tessera.golden.sparse_cycles` predicts all
    of them.

    Parameters
    ----------
    **params
        The fields of :class:`tessera.golden.config.SparseConfig` (``n_pes``, ``fifo_depth``,
        ...), keyword only, validated by it; :meth:`from_config` takes a configuration.

    Members
    -------
    i : In(stream.Signature(command_layout(config)))
        Commands.
    o : Out(stream.Signature(signed(32)))
        Layer outputs (requantized int8 sign-extended, or raw int32 accumulators) and STATS
        words. Back-pressure stalls write-back, never the compute phase.
    busy : Out(1)
        Not ready for commands: clearing the accumulators after reset, running a layer, or
        sending STATS.
    error : Out(5)
        Sticky :class:`tessera.hw.sparse.protocol.Error` bits.

    Raises
    ------
    TypeError, ValueError
        For bad parameters (see :class:`tessera.golden.config.SparseConfig`).
    """

    @classmethod
    def from_config(cls, config):
        """Build the array of ``config`` (a :class:`tessera.golden.config.SparseConfig`)."""
        return cls(**config.params())

    def __init__(self, **params):
        self.config = SparseConfig(**params)
        super().__init__({
            "i": In(stream.Signature(command_layout(self.config))),
            "o": Out(stream.Signature(signed(ACC_WIDTH))),
            "busy": Out(1),
            "error": Out(len(Error)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        n = cfg.n_pes
        pes = [SparsePE(cfg, pe=k) for k in range(n)]
        for k, pe in enumerate(pes):
            m.submodules[f"pe{k}"] = pe
        m.submodules.detector = det = NonZeroDetector(cfg)
        m.submodules.writeback = wb = WriteBack(cfg)

        state = Signal(_State)
        cmd = self.i.payload
        accept = self.i.valid & self.i.ready
        m.d.comb += [self.i.ready.eq(state == _State.IDLE), self.busy.eq(state != _State.IDLE)]

        # -- configuration writes, checked and registered for one cycle -----------------------
        limits = {
            Op.CODEBOOK: cfg.codebook_depth,
            Op.POINTERS: (cfg.ptr_depth + 1) // 2,
            Op.SPMAT: cfg.spmat_depth,
            Op.PARAMS: cfg.param_depth,
            Op.ACT: cfg.act_words,
        }
        cfg_ok = Signal()
        cfg_write = Signal()
        writes, oks = [], []
        for op, limit in limits.items():
            targets = cfg.lane_groups if op == Op.ACT else n
            pe_ok = 1 if op == Op.CODEBOOK else cmd.pe < targets
            writes.append(cmd.op == op)
            oks.append((cmd.op == op) & (cmd.addr < limit) & pe_ok)
        m.d.comb += [cfg_write.eq(Cat(writes).any()), cfg_ok.eq(Cat(oks).any())]
        w_valid = Signal()
        w_op = Signal(Op)
        w_pe = Signal(cfg.pe_bits)
        w_addr = Signal(FIELD_WIDTH)
        w_data = Signal(cfg.data_width)
        m.d.sync += w_valid.eq(accept & cfg_write & cfg_ok)
        with m.If(accept):
            m.d.sync += [w_op.eq(cmd.op), w_pe.eq(cmd.pe), w_addr.eq(cmd.addr),
                         w_data.eq(cmd.data)]
        for k, pe in enumerate(pes):
            selected = Mux(w_op == Op.CODEBOOK, 1,
                           Mux(w_op == Op.ACT, w_pe == k // ACT_LANES, w_pe == k))
            m.d.comb += [pe.cfg_en.eq(w_valid & selected), pe.cfg_op.eq(w_op),
                         pe.cfg_addr.eq(w_addr), pe.cfg_data.eq(w_data)]
        # Parameter row r of PE k is word r * N + k of the array's parameter memory.
        m.d.comb += [wb.w_en.eq(w_valid & (w_op == Op.PARAMS)),
                     wb.w_addr.eq(w_addr * n + w_pe),
                     wb.w_data.eq(w_data[:params_layout.size])]

        # -- RUN: check the layer against the memories ----------------------------------------
        run = run_layout(cmd.data[:run_layout.size])
        run_ok = Signal()
        m.d.comb += run_ok.eq(
            (cmd.addr <= cfg.max_acts) & (run.rows <= cfg.max_acts)
            & (run.ptr_base + cmd.addr < cfg.ptr_depth)
            & (run.param_base * n + run.rows <= cfg.param_depth * n)
            & (run.codebook < cfg.codebooks))
        start = Signal()
        m.d.comb += start.eq(accept & (cmd.op == Op.RUN) & run_ok)
        layer = Signal(run_layout)
        with m.If(start):
            m.d.sync += layer.eq(run)
        m.d.comb += [det.start.eq(start), det.cols.eq(cmd.addr)]

        # -- broadcast: decided a cycle ahead from the queues' registered flags ----------------
        m.submodules.broadcast = bcast = Broadcast(n_pes=n)
        wiring.connect(m, det.o, bcast.i)
        for k, pe in enumerate(pes):
            m.d.comb += [
                bcast.almost_full[k].eq(pe.almost_full),
                pe.q.valid.eq(bcast.o.valid),
                pe.q.payload.eq(bcast.o.payload),
                pe.bcast_wait.eq(bcast.wait),
                pe.act_rd_en.eq(det.rd_en),
                pe.act_rd_addr.eq(det.rd_addr),
                det.lanes[k].eq(pe.act),
                pe.start.eq(start),
                pe.layer.eq(layer),
                pe.wb_en.eq(wb.acc_en[k]),
                pe.wb_addr.eq(wb.acc_addr),
                wb.acc_data[k].eq(pe.wb_data),
                pe.dst_en.eq(wb.dst_en[k]),
                pe.dst_addr.eq(wb.dst_addr),
                pe.dst_data.eq(wb.dst_data),
            ]
        m.d.comb += [wb.start.eq(start), wb.active.eq(state == _State.WRITEBACK),
                     wb.layer.eq(layer)]

        # -- counters and errors -----------------------------------------------------------------
        cycles = Signal(COUNTER_WIDTH)
        wb_cycles = Signal(COUNTER_WIDTH)
        nonzeros = Signal(COUNTER_WIDTH)
        with m.If(start):
            m.d.sync += [cycles.eq(0), wb_cycles.eq(0), nonzeros.eq(0)]
        with m.If(bcast.o.valid):
            m.d.sync += nonzeros.eq(nonzeros + 1)
        errors = Signal(len(Error))
        pe_errors = Signal(3)
        for bit in range(3):
            m.d.comb += pe_errors[bit].eq(Cat(pe.error[bit] for pe in pes).any())
        raised = Cat(accept & cfg_write & ~cfg_ok,
                     accept & (cmd.op == Op.RUN) & ~run_ok,
                     pe_errors)
        m.d.comb += self.error.eq(errors)

        # -- the outputs: write-back's, or STATS words ------------------------------------------
        stats = [cycles, wb_cycles, errors, nonzeros,
                 *[pe.busy for pe in pes], *[pe.stall for pe in pes]]
        word = Signal(range(len(stats)))
        stats_word = _mux_tree(m, stats, word, "stats_word")
        sent = self.o.valid & self.o.ready
        writing_back = state == _State.WRITEBACK
        m.d.comb += wb.o.ready.eq(writing_back & self.o.ready)
        with m.If(writing_back):
            m.d.comb += [self.o.valid.eq(wb.o.valid), self.o.payload.eq(wb.o.payload)]
        with m.Elif(state == _State.STATS):
            m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(stats_word)]

        # -- the sequencer ----------------------------------------------------------------------
        clear_errors = Signal()
        swap = Signal()
        m.d.comb += [pe.swap.eq(swap) for pe in pes]
        with m.If(state == _State.CLEAR):
            with m.If(Cat(pe.ready for pe in pes).all()):
                m.d.sync += state.eq(_State.IDLE)
        with m.Elif(state == _State.IDLE):
            with m.If(start):
                m.d.sync += state.eq(_State.COMPUTE)
            with m.If(accept & (cmd.op == Op.STATS)):
                m.d.sync += [state.eq(_State.STATS), word.eq(0)]
        with m.Elif(state == _State.COMPUTE):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(det.idle & Cat(pe.idle for pe in pes).all()):
                m.d.sync += state.eq(_State.WRITEBACK)
        with m.Elif(state == _State.WRITEBACK):
            m.d.sync += wb_cycles.eq(wb_cycles + 1)
            with m.If(wb.done):
                m.d.sync += state.eq(_State.IDLE)
                m.d.comb += swap.eq(~layer.raw)
        with m.Elif(state == _State.STATS):
            with m.If(sent):
                m.d.sync += word.eq(word + 1)
                with m.If(word == len(stats) - 1):
                    m.d.sync += state.eq(_State.IDLE)
                    m.d.comb += clear_errors.eq(1)
        with m.Else():  # no such state: recover
            m.d.sync += state.eq(_State.IDLE)
        with m.If(clear_errors):
            m.d.sync += errors.eq(raised)
        with m.Else():
            m.d.sync += errors.eq(errors | raised)
        return m
