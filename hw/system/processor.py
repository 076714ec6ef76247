"""The command processor: decode headers, move data between memories and engines, count."""

from amaranth import *
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.isa import CMD_WIDTH, INSTRUCTION_WORDS, Error, Space
from tessera.golden.system_config import SystemConfig

from ..sparse import protocol as sparse
from ..systolic import protocol as systolic
from .actmem import ADDR_WIDTH, WRITE_LANES, ActivationMemory
from .check import HeaderCheck
from .im2col import Im2colAddressGenerator
from .pool import MaxPoolUnit
from .protocol import HEADER_BITS, Opcode, OutputKind, SpaceId, instruction_layout, output_layout
from .slice import StreamRegister
from .unpack import PayloadUnpacker
from .weightmem import WeightMemory

__all__ = ["CommandProcessor"]

#: Width of the cycle and instruction counters (one STATS word each).
COUNTER_WIDTH = CMD_WIDTH
#: Activations of one sparse ACT command.
SPARSE_LANES = sparse.act_layout.length
#: The sparse engine's error bits the system reports as :attr:`Error.SPARSE`.
SPARSE_DATA_ERRORS = sparse.Error.POINTER | sparse.Error.ROW | sparse.Error.CODE


class _State(enum.Enum, shape=4):
    FETCH, EXEC, LOAD, CONV, FC_ACT, FC_RUN, FC_OUT, POOL, READ, STATS, CHECK = range(11)


class CommandProcessor(wiring.Component):
    """The system's control: every instruction of :mod:`tessera.golden.isa`, and the memories.

    It takes headers from ``cmd`` (four words), checks them (:class:`HeaderCheck`: a bad one
    raises its sticky error bit and is skipped, a skipped LOAD still drains its payload), and
    runs them: LOAD payloads through a :class:`PayloadUnpacker` into the activation memory,
    the weight memories or the sparse engine's memories (its command stream); CONV through the
    im2col address generator and the weight memories into the systolic engine's ``a``, ``b``
    and ``q`` streams, its results written back to the activation memory a word (``lanes``
    consecutive output channels) a cycle; FC as the sparse
    engine's ACT commands and RUN, its outputs written back; POOL on the max-pool unit; READ,
    STATS and BARRIER on ``o``. It counts the cycles of every instruction (from its first
    header word to the cycle before the next can start) and logs them for STATS.

    The cycle counts are those of :class:`tessera.golden.executor.Executor` when ``cmd`` has no
    gaps and ``o`` no back-pressure (the executor's module docstring derives them); gaps and
    back-pressure only add cycles. It never waits on anything but its own streams and engines,
    and every engine command it sends has passed the check, so it never hangs.

    Parameters
    ----------
    config : SystemConfig

    Members
    -------
    cmd : In(stream.Signature(32))
    o : Out(stream.Signature(output_layout))
    error : Out(4)
        The sticky :class:`~tessera.golden.isa.Error` bits (STATS sends and clears them; the
        SPARSE bit follows the sparse engine's own sticky bits, cleared by reset only).
    gemm_cmd, gemm_a, gemm_b, gemm_q : Out(stream), gemm_o : In(stream), gemm_busy : In(1)
        The systolic engine's ports (:class:`tessera.hw.systolic.SystolicGemm`), flipped.
    sparse_i : Out(stream), sparse_o : In(stream), sparse_busy : In(1), sparse_error : In(5)
        The sparse engine's ports (:class:`tessera.hw.sparse.SparseArray`), flipped.
    """

    def __init__(self, config):
        if not isinstance(config, SystemConfig):
            raise TypeError(f"config must be a SystemConfig, not {config!r}")
        self.config = config
        sys, sp = config.systolic, config.sparse
        super().__init__({
            "cmd": In(stream.Signature(unsigned(CMD_WIDTH))),
            "o": Out(stream.Signature(output_layout)),
            "error": Out(len(Error)),
            "gemm_cmd": Out(stream.Signature(systolic.command_layout(sys))),
            "gemm_a": Out(stream.Signature(systolic.operand_layout(sys.rows))),
            "gemm_b": Out(stream.Signature(systolic.operand_layout(sys.cols))),
            "gemm_q": Out(stream.Signature(systolic.quant_layout(sys.acc_width))),
            "gemm_o": In(stream.Signature(systolic.result_layout(sys.lanes, sys.acc_width))),
            "gemm_busy": In(1),
            "sparse_i": Out(stream.Signature(sparse.command_layout(sp))),
            "sparse_o": In(stream.Signature(signed(32))),
            "sparse_busy": In(1),
            "sparse_error": In(len(sparse.Error)),
        })

    @staticmethod
    def read_lanes(config):
        """Read lanes of the activation memory (``SystemConfig.act_read_lanes``)."""
        return config.act_read_lanes

    @staticmethod
    def act_beats(config):
        """Lanes read a cycle for an ACT command, and its cycles (``SystemConfig.act_beats``)."""
        return config.act_beats

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        sys, sp = cfg.systolic, cfg.sparse
        lanes = self.read_lanes(cfg)

        # -- units -----------------------------------------------------------------------------
        # A word of the engine's results (``lanes`` consecutive output channels, consecutive
        # addresses in NHWC) is written in the cycle it arrives.
        m.submodules.act = act = ActivationMemory(depth=cfg.act_depth, lanes=lanes,
                                                  write_lanes=max(WRITE_LANES, sys.lanes))
        m.submodules.weight = wmem = WeightMemory(shape=systolic.operand_layout(sys.cols),
                                                  depth=cfg.weight_depth)
        m.submodules.qparam = qmem = WeightMemory(shape=systolic.quant_layout(sys.acc_width),
                                                  depth=cfg.qparam_depth)
        m.submodules.check = check = HeaderCheck(cfg)
        m.submodules.im2col = im2col = Im2colAddressGenerator(rows=sys.rows, tile_m=sys.tile_m)
        m.submodules.pool = pool = MaxPoolUnit()
        # Every sparse command leaves through a register slice: the FC's activations come
        # from the activation memory's block RAMs and bank multiplexers, and the engine decodes
        # its command input combinationally (the system's critical path before the slice).
        m.submodules.sparse_slice = sparse_slice = StreamRegister(sparse.command_layout(sp))
        wiring.connect(m, sparse_slice.o, wiring.flipped(self.sparse_i))
        sparse_i = sparse_slice.i
        m.submodules.log = log = memory.Memory(shape=unsigned(COUNTER_WIDTH),
                                               depth=cfg.stats_depth, init=[])
        log_w = log.write_port()
        log_r = log.read_port(domain="comb")

        # One unpacker per distinct (word width, lanes); an unknown space drains as bytes.
        shapes = {space: (cfg.word_bits(space), WRITE_LANES if space == Space.ACT else 1)
                  for space in Space}
        unpackers = {}
        for key in sorted(set(shapes.values()) | {(8, 1)}):
            unpackers[key] = PayloadUnpacker(bits=key[0], lanes=key[1])
            m.submodules[f"unpack_{key[0]}x{key[1]}"] = unpackers[key]

        # -- the header ------------------------------------------------------------------------
        state = Signal(_State)
        header_bits = Signal(HEADER_BITS)
        header = instruction_layout(header_bits[:instruction_layout.size])
        word = Signal(range(INSTRUCTION_WORDS))
        m.d.comb += check.header.eq(header)
        bad = check.errors != 0

        # -- counters, errors, the log -----------------------------------------------------------
        icycles = Signal(COUNTER_WIDTH)     # cycles of the current instruction before this one
        total = Signal(COUNTER_WIDTH)
        retired = Signal(COUNTER_WIDTH)
        errors = Signal(len(Error))
        retire = Signal()                   # the instruction's last cycle
        sparse_bad = (self.sparse_error & SPARSE_DATA_ERRORS) != 0
        error_word = Signal(len(Error))
        m.d.comb += [error_word.eq(errors | Mux(sparse_bad, Error.SPARSE, 0)),
                     self.error.eq(error_word)]
        fetching = (state == _State.FETCH)
        first_word = fetching & (word == 0) & self.cmd.valid & self.cmd.ready
        with m.If(first_word):
            m.d.sync += icycles.eq(1)
        with m.Elif(~fetching | (word != 0)):
            m.d.sync += icycles.eq(icycles + 1)
        m.d.comb += [log_w.addr.eq(retired), log_w.data.eq(icycles + 1),
                     log_w.en.eq(retire & (retired < cfg.stats_depth))]
        with m.If(retire):
            m.d.sync += [total.eq(total + icycles + 1), retired.eq(retired + 1),
                         state.eq(_State.FETCH)]

        # The header arrives word 0 first; the sparse engine clears its accumulators after
        # reset (busy), the only time it is busy between instructions.
        with m.If(fetching):
            m.d.comb += self.cmd.ready.eq(~self.sparse_busy)
            with m.If(self.cmd.valid & self.cmd.ready):
                m.d.sync += [header_bits.word_select(word, CMD_WIDTH).eq(self.cmd.payload),
                             word.eq(word + 1)]
                with m.If(word == INSTRUCTION_WORDS - 1):
                    # A CONV's or a POOL's sizes leave the header check's pipeline a cycle
                    # after the last word (``check.LATENCY``): it waits that cycle in CHECK.
                    waits = (header.opcode == Opcode.CONV) | (header.opcode == Opcode.POOL)
                    m.d.sync += [word.eq(0), state.eq(Mux(waits, _State.CHECK, _State.EXEC))]
        with m.If(state == _State.CHECK):
            m.d.sync += state.eq(_State.EXEC)

        # -- data-path defaults: who drives the activation memory --------------------------------
        args = header.args
        conv, fc, pl, rd, ld = args.conv, args.fc, args.pool, args.read, args.load

        # LOAD --------------------------------------------------------------------------------
        load_space = Signal(SpaceId)
        load_known = Signal()
        load_ok = Signal()
        load_pe = Signal(ld.pe.shape())
        load_addr = Signal(ADDR_WIDTH + 1)
        busy_any = Signal()
        selected_of = {}
        for key, unpacker in unpackers.items():
            spaces = [s for s, k in shapes.items() if k == key]
            selected = Signal(name=f"sel_{key[0]}x{key[1]}")
            sel_now = Cat(ld.space == SpaceId(s.value) for s in spaces).any() if spaces else 0
            if key == (8, 1):
                sel_now = sel_now | ~Cat(ld.space == SpaceId(s.value) for s in Space).any()
                sel_reg = Cat(load_space == SpaceId(s.value) for s in spaces).any() \
                    if spaces else 0
                sel_reg = sel_reg | ~load_known
            else:
                sel_reg = Cat(load_space == SpaceId(s.value) for s in spaces).any()
            m.d.comb += [unpacker.cmd.payload.eq(ld.count),
                         unpacker.cmd.valid.eq((state == _State.EXEC)
                                               & (header.opcode == Opcode.LOAD) & sel_now),
                         selected.eq(sel_reg)]
            with m.If((state == _State.LOAD) & selected):
                m.d.comb += [unpacker.i.valid.eq(self.cmd.valid),
                             unpacker.i.payload.eq(self.cmd.payload),
                             self.cmd.ready.eq(unpacker.i.ready),
                             busy_any.eq(unpacker.busy)]
            selected_of[key] = selected

        def unpacked(space):
            return unpackers[shapes[space]]

        # EXEC ----------------------------------------------------------------------------------
        conv_m, conv_k = check.conv.m, check.conv.k     # registered by the check
        gemm_size = Signal(data.StructLayout({"m": 16, "n": 16}))
        m_idx, n_idx = Signal(16), Signal(16)      # the next result's (m, n)
        m0, n0 = Signal(16), Signal(16)
        # out_base + m_idx * n and out_base + m0 * n, kept by additions (no multiplier in the
        # write path): the next result goes to row_addr + n_idx.
        row_addr, tile_addr = Signal(ADDR_WIDTH + 1), Signal(ADDR_WIDTH + 1)
        results_left = Signal(32)
        fc_args = Signal.like(fc)
        fc_run = Signal(sparse.run_layout)           # the RUN command's data field
        j_base = Signal(17)                        # a * N of the next ACT command
        group = Signal(range(max(2, -(-sp.n_pes // SPARSE_LANES))))
        local = Signal(ADDR_WIDTH)
        rows_done = Signal(17)
        rd_addr = Signal(ADDR_WIDTH + 2)
        rd_left = Signal(ADDR_WIDTH)
        stat = Signal(range(cfg.stats_depth + 4))

        m.d.comb += [
            self.gemm_cmd.payload.m.eq(conv_m), self.gemm_cmd.payload.k.eq(conv_k),
            self.gemm_cmd.payload.n.eq(conv.oc), self.gemm_cmd.payload.relu.eq(conv.relu),
            im2col.cmd.payload.eq(conv),
            wmem.cmd.payload.base.eq(conv.w_base),
            wmem.cmd.payload.count.eq(check.conv.b_words),
            qmem.cmd.payload.base.eq(conv.q_base), qmem.cmd.payload.count.eq(conv.oc),
            pool.cmd.payload.eq(pl),
        ]
        with m.If(state == _State.EXEC):
            m.d.sync += errors.eq(errors | check.errors)
            with m.Switch(header.opcode):
                with m.Case(Opcode.LOAD):
                    known = Cat(ld.space == SpaceId(s.value) for s in Space).any()
                    m.d.sync += [load_space.eq(ld.space), load_known.eq(known),
                                 load_ok.eq(~bad), load_pe.eq(ld.pe), load_addr.eq(ld.addr),
                                 state.eq(_State.LOAD)]
                with m.Case(Opcode.CONV):
                    with m.If(bad):
                        m.d.comb += retire.eq(1)
                    with m.Else():
                        # The engine's command waits for its ready (high whenever it is idle,
                        # so in the system this costs no cycle); the units inside start with it.
                        go = self.gemm_cmd.ready
                        m.d.comb += [self.gemm_cmd.valid.eq(1), im2col.cmd.valid.eq(go),
                                     wmem.cmd.valid.eq(go), qmem.cmd.valid.eq(go)]
                    with m.If(~bad & self.gemm_cmd.ready):
                        m.d.sync += [
                            gemm_size.m.eq(conv_m), gemm_size.n.eq(conv.oc),
                            row_addr.eq(conv.out_base + check.conv.out_offset),
                            tile_addr.eq(conv.out_base + check.conv.out_offset),
                            m_idx.eq(0), n_idx.eq(0), m0.eq(0), n0.eq(0),
                            results_left.eq(check.conv.results), state.eq(_State.CONV)]
                with m.Case(Opcode.FC):
                    with m.If(bad):
                        m.d.comb += retire.eq(1)
                    with m.Else():
                        m.d.sync += [fc_args.eq(fc), j_base.eq(0), group.eq(0), local.eq(0),
                                     rows_done.eq(0),
                                     # A resident input is in the engine already: no ACT.
                                     state.eq(Mux(fc.resident, _State.FC_RUN, _State.FC_ACT)),
                                     fc_run.rows.eq(fc.rows), fc_run.ptr_base.eq(fc.ptr_base),
                                     fc_run.param_base.eq(fc.param_base),
                                     fc_run.relu.eq(fc.relu), fc_run.raw.eq(0),
                                     fc_run.codebook.eq(fc.codebook),
                                     fc_run.emit.eq(1)]
                with m.Case(Opcode.POOL):
                    with m.If(bad):
                        m.d.comb += retire.eq(1)
                    with m.Else():
                        m.d.comb += pool.cmd.valid.eq(1)
                        m.d.sync += state.eq(_State.POOL)
                with m.Case(Opcode.READ):
                    with m.If(bad):
                        m.d.comb += retire.eq(1)
                    with m.Else():
                        m.d.sync += [rd_addr.eq(rd.addr), rd_left.eq((rd.count + 3) // 4),
                                     state.eq(_State.READ)]
                with m.Case(Opcode.STATS):
                    m.d.sync += [stat.eq(0), state.eq(_State.STATS)]
                with m.Case(Opcode.BARRIER):
                    m.d.comb += [self.o.valid.eq(1),
                                 self.o.payload.kind.eq(OutputKind.BARRIER),
                                 self.o.payload.data.eq(args.barrier.tag),
                                 retire.eq(self.o.ready)]
                with m.Default():
                    m.d.comb += retire.eq(1)

        # LOAD: the unpacked words into their memory --------------------------------------------
        with m.If(state == _State.LOAD):
            for key, unpacker in unpackers.items():
                with m.If(selected_of[key]):
                    m.d.comb += unpacker.o.ready.eq(1)
            ua = unpacked(Space.ACT).o
            m.d.comb += [act.w_addr.eq(load_addr), act.w_data.as_value().eq(ua.payload.data),
                         act.w_mask.eq((1 << ua.payload.n) - 1)]
            uw, uq = unpacked(Space.WEIGHT).o, unpacked(Space.QPARAM).o
            m.d.comb += [wmem.w_addr.eq(load_addr), wmem.w_data.eq(uw.payload.data[0]),
                         qmem.w_addr.eq(load_addr), qmem.w_data.eq(uq.payload.data[0])]
            sparse_ops = {Space.CODEBOOK: sparse.Op.CODEBOOK, Space.POINTER: sparse.Op.POINTERS,
                          Space.SPMAT: sparse.Op.SPMAT, Space.SPARAM: sparse.Op.PARAMS}
            with m.Switch(load_space):
                with m.Case(SpaceId.ACT):
                    m.d.comb += act.w_en.eq(load_ok & ua.valid)
                    with m.If(ua.valid):
                        m.d.sync += load_addr.eq(load_addr + ua.payload.n)
                with m.Case(SpaceId.WEIGHT):
                    m.d.comb += wmem.w_en.eq(load_ok & uw.valid)
                with m.Case(SpaceId.QPARAM):
                    m.d.comb += qmem.w_en.eq(load_ok & uq.valid)
                for space, op in sparse_ops.items():
                    with m.Case(SpaceId(space.value)):
                        u = unpacked(space)
                        m.d.comb += [
                            sparse_i.valid.eq(load_ok & u.o.valid),
                            sparse_i.payload.op.eq(op),
                            sparse_i.payload.pe.eq(load_pe),
                            sparse_i.payload.addr.eq(load_addr),
                            sparse_i.payload.data.eq(u.o.payload.data[0]),
                            u.o.ready.eq(~load_ok | sparse_i.ready),
                        ]
            with m.If(load_known & (load_space != SpaceId.ACT)):
                with m.If(Cat(u.o.valid & u.o.ready for u in unpackers.values()).any()):
                    m.d.sync += load_addr.eq(load_addr + 1)
            with m.If(~busy_any):
                m.d.comb += retire.eq(1)

        # CONV: im2col -> activation reads -> a; weights -> b, q; results -> activation memory --
        a_valid = Signal()
        a_zero = Signal(sys.rows)
        with m.If(state == _State.CONV):
            advance = ~a_valid | self.gemm_a.ready
            m.d.comb += [im2col.o.ready.eq(advance), act.r_en.eq(advance)]
            for i in range(sys.rows):
                m.d.comb += act.r_addr[i].eq(im2col.o.payload[i].addr)
            with m.If(advance):
                m.d.sync += [a_valid.eq(im2col.o.valid),
                             a_zero.eq(Cat(im2col.o.payload[i].zero for i in range(sys.rows)))]
            # A word of the engine's results: ``n`` consecutive columns of one row of a group,
            # written at once (the int8 results' low bytes).
            m.d.comb += self.gemm_o.ready.eq(1)
            with m.If(self.gemm_o.valid):
                word = self.gemm_o.payload
                cn = Mux(gemm_size.n - n0 < sys.cols, gemm_size.n - n0, sys.cols)
                mm = Mux(gemm_size.m - m0 < sys.tile_m, gemm_size.m - m0, sys.tile_m)
                m.d.comb += [act.w_en.eq(1), act.w_addr.eq(row_addr + n_idx),
                             act.w_mask.eq(Cat(j < word.n for j in range(sys.lanes)))]
                for j in range(sys.lanes):
                    m.d.comb += act.w_data[j].eq(word.data[j][:8])
                m.d.sync += results_left.eq(results_left - word.n)
                with m.If(n_idx + word.n < n0 + cn):
                    m.d.sync += n_idx.eq(n_idx + word.n)
                with m.Elif(m_idx + 1 < m0 + mm):
                    m.d.sync += [n_idx.eq(n0), m_idx.eq(m_idx + 1),
                                 row_addr.eq(row_addr + gemm_size.n)]
                with m.Elif(n0 + sys.cols < gemm_size.n):
                    m.d.sync += [n0.eq(n0 + sys.cols), n_idx.eq(n0 + sys.cols), m_idx.eq(m0),
                                 row_addr.eq(tile_addr)]
                with m.Else():
                    m.d.sync += [n0.eq(0), n_idx.eq(0), m0.eq(m0 + mm), m_idx.eq(m0 + mm),
                                 row_addr.eq(row_addr + gemm_size.n),
                                 tile_addr.eq(row_addr + gemm_size.n)]
            with m.If((results_left == 0) & ~self.gemm_busy):
                m.d.comb += retire.eq(1)
        m.d.comb += [self.gemm_a.valid.eq(a_valid)]
        for i in range(sys.rows):
            m.d.comb += self.gemm_a.payload[i].eq(Mux(a_zero[i], 0, act.r_data[i]))
        wiring.connect(m, wmem.o, wiring.flipped(self.gemm_b))
        wiring.connect(m, qmem.o, wiring.flipped(self.gemm_q))

        # FC: activations into the sparse engine, RUN, outputs back ------------------------------
        # One ACT command feeds G PEs (a lane group g) at S local addresses each: lane n is
        # column j_base + N * (n // G) + 8 g + n % G (``SparseConfig.act_span``; with N
        # dividing 8 the lanes are 8 consecutive columns). A command's lanes are read from the
        # activation memory in ``beats`` cycles of up to ``lanes`` reads, the earlier beats
        # gathered in a register; the command leaves with the last beat's data.
        n_pes, g_width, span = sp.n_pes, sp.act_group, sp.act_span
        used = g_width * span
        per, beats = self.act_beats(cfg)
        act_valid = Signal()
        act_last = Signal()
        # At least one bit wide: a zero-width wire is `[-1:0]` in Verilog (Verilator lint).
        act_beat = Signal(range(max(beats, 2)))
        act_mask = Signal(per)
        act_local = Signal(ADDR_WIDTH)
        act_group = Signal.like(group)
        beat = Signal(range(max(beats, 2)))
        gathered = Signal(sparse.act_layout)
        feeding = j_base < fc_args.cols

        def lane_offset(b, i):
            n = b * per + i
            return n_pes * (n // g_width) + n % g_width, n < used

        with m.If(state == _State.FC_ACT):
            advance = ~(act_valid & act_last) | sparse_i.ready
            issue = advance & feeding
            m.d.comb += act.r_en.eq(advance)
            mask = []
            for i in range(per):
                offset = Signal(range(n_pes * span + 1), name=f"act_offset{i}")
                inside = Signal(name=f"act_inside{i}")
                for b in range(beats):
                    value, used_lane = lane_offset(b, i)
                    with m.If(beat == b):
                        m.d.comb += [offset.eq(value), inside.eq(used_lane)]
                j = j_base + offset + group * SPARSE_LANES
                m.d.comb += act.r_addr[i].eq(fc_args.in_base + j)
                # Lanes past the PEs (N > 8: lane i is PE 8 g + i) or past the layer's columns
                # carry zero.
                pe_ok = group * SPARSE_LANES + i < n_pes if n_pes > SPARSE_LANES else 1
                mask.append(inside & pe_ok & (j < fc_args.cols))
            with m.If(advance):
                m.d.sync += [act_valid.eq(issue), act_last.eq(beat == beats - 1),
                             act_beat.eq(beat), act_mask.eq(Cat(mask)),
                             act_local.eq(local), act_group.eq(group)]
            with m.If(issue):
                with m.If(beat != beats - 1):
                    m.d.sync += beat.eq(beat + 1)
                with m.Else():
                    m.d.sync += beat.eq(0)
                    with m.If((group + 1) * SPARSE_LANES >= n_pes):
                        m.d.sync += [group.eq(0), j_base.eq(j_base + n_pes * span),
                                     local.eq(local + 1)]
                    with m.Else():
                        m.d.sync += group.eq(group + 1)
            arrived = Signal(per * 8)
            m.d.comb += arrived.eq(Cat(Mux(act_mask[i], act.r_data[i], 0) for i in range(per)))
            lanes_data = Signal(sparse.act_layout)
            m.d.comb += lanes_data.eq(gathered)
            for b in range(beats):
                with m.If(act_valid & (act_beat == b)):
                    width = min(per, SPARSE_LANES - b * per) * 8
                    m.d.comb += lanes_data.as_value()[b * per * 8:][:width].eq(arrived[:width])
            with m.If(act_valid & ~act_last):
                m.d.sync += gathered.eq(lanes_data)
            m.d.comb += [sparse_i.valid.eq(act_valid & act_last),
                         sparse_i.payload.op.eq(sparse.Op.ACT),
                         sparse_i.payload.pe.eq(act_group),
                         sparse_i.payload.addr.eq(act_local),
                         sparse_i.payload.data.eq(lanes_data.as_value())]
            with m.If(~feeding & advance):
                m.d.sync += state.eq(_State.FC_RUN)
        with m.If(state == _State.FC_RUN):
            m.d.comb += [sparse_i.valid.eq(1), sparse_i.payload.op.eq(sparse.Op.RUN),
                         sparse_i.payload.addr.eq(fc_args.cols),
                         sparse_i.payload.data.eq(fc_run.as_value())]
            with m.If(sparse_i.ready):
                m.d.sync += state.eq(_State.FC_OUT)
        with m.If(state == _State.FC_OUT):
            m.d.comb += self.sparse_o.ready.eq(1)
            with m.If(self.sparse_o.valid):
                m.d.comb += [act.w_en.eq(1), act.w_addr.eq(fc_args.out_base + rows_done),
                             act.w_data[0].eq(self.sparse_o.payload[:8]), act.w_mask.eq(1)]
                m.d.sync += rows_done.eq(rows_done + 1)
            with m.If((rows_done == fc_args.rows) & ~self.sparse_busy):
                m.d.comb += retire.eq(1)

        # POOL ----------------------------------------------------------------------------------
        m.d.comb += pool.rd_data.eq(act.r_data[0])
        with m.If(state == _State.POOL):
            m.d.comb += [act.r_en.eq(pool.rd_en), act.r_addr[0].eq(pool.rd_addr),
                         act.w_en.eq(pool.wr_en), act.w_addr.eq(pool.wr_addr),
                         act.w_data[0].eq(pool.wr_data), act.w_mask.eq(1)]
            with m.If(~pool.busy):
                m.d.comb += retire.eq(1)

        # READ: four bytes a word, lowest address in the low byte -------------------------------
        rd_valid = Signal()
        rd_keep = Signal(WRITE_LANES)
        with m.If(state == _State.READ):
            advance = ~rd_valid | self.o.ready
            issue = advance & (rd_left != 0)
            m.d.comb += act.r_en.eq(issue)
            end = rd.addr + rd.count
            keep = []
            for n in range(WRITE_LANES):
                m.d.comb += act.r_addr[n].eq(rd_addr + n)
                keep.append(rd_addr + n < end)
            with m.If(advance):
                m.d.sync += rd_valid.eq(issue)
            with m.If(issue):
                m.d.sync += [rd_addr.eq(rd_addr + WRITE_LANES), rd_left.eq(rd_left - 1),
                             rd_keep.eq(Cat(keep))]
            m.d.comb += [self.o.valid.eq(rd_valid), self.o.payload.kind.eq(OutputKind.DATA),
                         self.o.payload.data.eq(Cat(Mux(rd_keep[n], act.r_data[n], 0)
                                                    for n in range(WRITE_LANES)))]
            with m.If(advance & (rd_left == 0)):
                m.d.comb += retire.eq(1)

        # STATS: cycles, errors, retired, then the log; then clear ------------------------------
        logged = Mux(retired < cfg.stats_depth, retired, cfg.stats_depth)
        with m.If(state == _State.STATS):
            m.d.comb += log_r.addr.eq(stat - 3)
            value = Mux(stat == 0, total, Mux(stat == 1, error_word,
                                                  Mux(stat == 2, retired, log_r.data)))
            m.d.comb += [self.o.valid.eq(1), self.o.payload.kind.eq(OutputKind.STATS),
                         self.o.payload.data.eq(value)]
            with m.If(self.o.ready):
                m.d.sync += stat.eq(stat + 1)
                with m.If(stat == logged + 2):
                    m.d.sync += [total.eq(0), retired.eq(0), errors.eq(0),
                                 state.eq(_State.FETCH)]
        return m
