"""Specs of the system's command processor (tessera.hw.system) and their broken variants.

The processor is proved on its own, with both engines' sides free: whatever the systolic and
sparse engines do (any results, any ``busy`` and error bits, any back-pressure), every stream it
drives keeps the valid/ready rule. That covers the system top's ``o`` and the engine-facing
streams in one proof; the engines' own streams are proved in spec_systolic and spec_sparse.
"""

import functools

from amaranth import Cat, Module, Mux, Signal
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cover
from tessera.golden import executor
from tessera.golden.isa import INSTRUCTION_WORDS, Space
from tessera.golden.system_config import SparseConfig, SystemConfig, SystolicConfig
from tessera.hw.sparse.protocol import Op as SparseOp
from tessera.hw.sparse.protocol import run_layout
from tessera.hw.system.im2col import Im2colAddressGenerator
from tessera.hw.system.processor import CommandProcessor, _State
from tessera.hw.system.protocol import HEADER_BITS, Opcode, SpaceId, instruction_layout

from . import harness as h
from .spec_sparse import FAIR_WAIT, _bad_commands

__all__ = ["PROGRESS_SPLIT", "im2col_stream_spec", "processor_depth", "processor_progress_spec",
           "processor_stream_spec"]

#: The smallest system: a 2 x 2 array, two sparse PEs, one word of each memory the
#: configuration allows, two logged instructions.
TINY = SystemConfig(
    systolic=SystolicConfig(rows=2, cols=2, max_m=2, max_k=2, max_n=2, acc_depth=1),
    sparse=SparseConfig(n_pes=2, fifo_depth=2, act_depth=2, spmat_depth=2, ptr_depth=4,
                        param_depth=2, entries_per_word=2),
    act_depth=16, weight_depth=1, qparam_depth=1, stats_depth=2)


@h.breaks(CommandProcessor)
def _StatsRunsAhead(self, m):
    """Broken: STATS moves on to its next word whether or not ``o`` took the current one."""
    state, stat = h.find(m, "state"), h.find(m, "stat")
    with m.If(state == _State.STATS):
        m.d.sync += stat.eq(stat + 1)


@h.proof("processor_stream", "CommandProcessor(TINY)", "bmc", 12,
       covers="o (READ data, STATS words, BARRIER tags) and the engine-facing cmd, a, b, q and "
              "sparse streams keep valid and payload until ready, for any commands and any "
              "engine behaviour",
       broken="STATS moves on to its next word while o waits",
       why_bounded="the memories and the instruction log make the state too large for "
                   "induction to close in minutes; 12 steps: a four-word header, its "
                   "decoding and seven cycles of any instruction (a STATS word stalled on "
                   "o, the first commands and operands of a CONV or an FC)")
def processor_stream_spec(variant):
    """From the signature: ``cmd`` and the engines' outputs assumed, every output checked.

    One more assumption about the engines: the sparse array's error bits hold while the
    processor sends STATS words (it gives the array no command then, so nothing can raise
    one; STATS reports them as they are).
    """
    dut = h.pick(variant, CommandProcessor, _StatsRunsAhead)(TINY)
    inner = h.elaborated(dut)
    m = h.contract(dut, module=inner)
    in_stats = h.find(inner, "state") == _State.STATS
    error_before = h.past(m, dut.sparse_error, name="sparse_error_before")
    with m.If(in_stats & h.past(m, in_stats, name="was_in_stats")):
        m.d.comb += Assume(dut.sparse_error == error_before)
    return m


# -- Im2colAddressGenerator -----------------------------------------------------------------------

@h.breaks(Im2colAddressGenerator)
def _Im2colFlowsWhileStalled(self, m):
    """Broken: the address pipeline moves on while ``o`` is stalled."""
    m.d.comb += h.find(m, "flow").eq(1)


@h.proof("im2col_stream", "Im2colAddressGenerator(rows=4, tile_m=4)", "prove", 1, fail_depth=9,
       covers="o keeps valid and payload until ready, for any geometry",
       broken="the address pipeline moves on while o is stalled")
def im2col_stream_spec(variant):
    """``o.valid`` and ``o.payload`` hold until ``ready`` (the payload is the pipeline's last
    register)."""
    dut = h.pick(variant, Im2colAddressGenerator, _Im2colFlowsWhileStalled)(rows=4, tile_m=4)
    m = Module()
    m.submodules.dut = h.elaborated(dut)
    h.drive(m, dut.cmd.valid, dut.cmd.payload, dut.o.ready)
    h.assume_stream(m, dut.cmd, name="cmd")
    stalled = h.past(m, dut.o.valid & ~dut.o.ready, name="o_stalled")
    before = h.past(m, dut.o.payload.as_value(), name="payload_before")
    with m.If(stalled):
        m.d.comb += [Assert(dut.o.valid), Assert(dut.o.payload.as_value() == before)]
    return m


# -- CommandProcessor: hang-freedom ---------------------------------------------------------------

def _pool_worst_case(config):
    """The most window elements (``OH * OW * c * kernel**2``) of a POOL that ``config`` runs
    (the golden executor's check: sizes, ranges, in/out overlap), and that POOL."""
    from tessera.golden.isa import Pool

    depth = config.act_depth
    worst = (0, None)
    for hh in range(1, depth + 1):
        for ww in range(1, depth // hh + 1):
            for c in range(1, depth // (hh * ww) + 1):
                for kernel in range(1, min(hh, ww) + 1):
                    for stride in range(1, min(max(hh, ww), 7) + 1):
                        oh, ow = (hh - kernel) // stride + 1, (ww - kernel) // stride + 1
                        # Any room for the outputs beside the inputs: the bases are free.
                        pool = Pool(in_base=0, out_base=hh * ww * c, h=hh, w=ww, c=c,
                                    kernel=kernel, stride=stride)
                        if executor.instruction_errors(pool, config):
                            continue
                        elements = oh * ow * c * kernel * kernel
                        if elements > worst[0]:
                            worst = (elements, pool)
    return worst


#: The most cycles an instruction of TINY other than LOAD keeps the processor busy, counting
#: neither an engine's own computing (bounded by its own proofs) nor cycles a LOAD waits for its
#: payload: the golden executor's cycles less the header (INSTRUCTION_WORDS), each o word
#: waiting at most FAIR_WAIT cycles. The POOL of the most window elements is the longest
#: (executor.POOL_OVERHEAD + 18 = 24); STATS is 1 + 5 * 2, READ 2 + 4 * 2, BARRIER 1 + 1,
#: a bad header or NOP 1 (a bad CONV or POOL 2: the header check's CHECK cycle); CONV and FC
#: are their operand and activation transfers and write-backs around the engine's own cycles.
POOL_ELEMENTS, POOL_WORST = _pool_worst_case(TINY)
PROCESSOR_CYCLES = max(
    executor.POOL_OVERHEAD + POOL_ELEMENTS,
    executor.STATS_OVERHEAD + (len(executor.STATS_HEADER) + TINY.stats_depth) * (FAIR_WAIT + 1),
    executor.READ_OVERHEAD + -(-TINY.act_depth // executor.ACT_WRITE_LANES) * (FAIR_WAIT + 1),
)


def _load_cycles(m, config, load, bound_slack):
    """The golden executor's cycles of a LOAD past its header, as a value of the header's
    fields: LOAD_OVERHEAD + max(payload words, writes) (a bad LOAD drains its payload alike)."""
    bits = Signal(8, name="load_bits")
    m.d.comb += bits.eq(executor.UNKNOWN_SPACE_BITS)
    with m.Switch(load.space):
        for space in Space:
            with m.Case(SpaceId(space.value)):
                m.d.comb += bits.eq(config.word_bits(space))
    words = Signal(24, name="load_words")
    writes = Signal(17, name="load_writes")
    m.d.comb += [
        words.eq((load.count * bits + 31) >> 5),
        writes.eq(Mux(load.space == SpaceId.ACT,
                      (load.count + executor.ACT_WRITE_LANES - 1) // executor.ACT_WRITE_LANES,
                      load.count)),
    ]
    return executor.LOAD_OVERHEAD + Mux(words > writes, words, writes) + bound_slack


def _systolic_engine(m, dut, inner):
    """A systolic engine that answers: it takes a command when idle (a bad one, a size 0 or
    above the maximum, it skips: no busy, no result, as SystolicGemm), is busy until it has
    sent exactly ``m * n`` results (at any time while busy), and falls idle (at any time after
    that) only once it has taken every operand the processor has for it; its a, b and q are
    ready at least every other cycle. Returns ``computing``: the engine works on its own (busy,
    no operand left to take), which gemm_progress bounds."""
    sys = TINY.systolic
    cmd = dut.gemm_cmd
    busy = Signal(name="gemm_model_busy")
    left = Signal(8, name="gemm_model_left")
    m.d.comb += [cmd.ready.eq(~busy), dut.gemm_busy.eq(busy)]
    for operands in (dut.gemm_a, dut.gemm_b, dut.gemm_q):
        h.drive(m, operands.ready)
        h.fair_ready(m, operands, FAIR_WAIT)
    p = cmd.payload
    good = ((p.m != 0) & (p.k != 0) & (p.n != 0)
            & (p.m <= sys.max_m) & (p.k <= sys.max_k) & (p.n <= sys.max_n))
    with m.If(cmd.valid & cmd.ready & good):
        m.d.sync += [busy.eq(1), left.eq(p.m * p.n)]
    units = inner.submodules
    operands_left = (units.im2col.busy | units.weight.busy | units.qparam.busy
                     | dut.gemm_a.valid | dut.gemm_b.valid | dut.gemm_q.valid)
    result = dut.gemm_o
    m.d.comb += [result.valid.eq(AnySeq(1) & busy & (left != 0)),
                 result.payload.eq(AnySeq(len(result.payload.as_value())))]
    # A result word carries 1 .. lanes results (fewer at N's right edge), never more than owed.
    n = result.payload.n
    m.d.comb += Assume(~result.valid | ((n >= 1) & (n <= sys.lanes) & (n <= left)))
    with m.If(result.valid & result.ready):
        m.d.sync += left.eq(left - n)
    with m.If(busy & (left == 0) & ~operands_left & AnySeq(1)):
        m.d.sync += busy.eq(0)
    return busy & ~operands_left


def _sparse_engine(m, dut):
    """A sparse array that answers: ready whenever idle; a RUN that fits (as SparseArray
    checks it) makes it busy until it has sent exactly ``rows`` outputs and falls idle at any
    time after that; a RUN that does not fit is skipped (no busy, no output: the processor
    must never send one); configuration writes and ACTs keep it idle. Busy after reset too
    (its accumulator sweep), for any time. Returns ``busy``: every cycle of it is the array's
    own (array_run_progress bounds a layer)."""
    cmd = dut.sparse_i
    busy = Signal(name="sparse_model_busy", init=1)
    left = Signal(17, name="sparse_model_left")
    m.d.comb += [cmd.ready.eq(~busy), dut.sparse_busy.eq(busy)]
    h.drive(m, dut.sparse_error)
    accept = cmd.valid & cmd.ready
    _bad_config, bad_run = _bad_commands(m, TINY.sparse, accept, cmd.payload)
    run = accept & (cmd.payload.op == SparseOp.RUN) & ~bad_run
    with m.If(run):
        m.d.sync += [busy.eq(1), left.eq(run_layout(cmd.payload.data[:run_layout.size]).rows)]
    out = dut.sparse_o
    m.d.comb += [out.valid.eq(AnySeq(1) & busy & (left != 0)),
                 out.payload.eq(AnySeq(len(out.payload)))]
    with m.If(out.valid & out.ready):
        m.d.sync += left.eq(left - 1)
    with m.If(busy & (left == 0) & AnySeq(1)):
        m.d.sync += busy.eq(0)
    return busy, run, bad_run


#: Own cycles of each opcode but LOAD (whose bound is a value of its header, _load_cycles),
#: from the golden executor's counts less the header, each o word waiting at most FAIR_WAIT
#: cycles: STATS at most 1 + 5 * 2 (the spec uses its count, 1 + (3 + logged) * 2), READ
#: 2 + 4 * 2, BARRIER 1 + 1; a NOP, an opcode that does not
#: exist and every bad header (not a LOAD) are retired in their dispatch cycle. CONV and FC
#: keep the longest bound (PROCESSOR_CYCLES): their own cycles are their operand and
#: activation transfers and write-backs around the engine's own count.
OWN_CYCLES = {
    Opcode.POOL: executor.POOL_OVERHEAD + POOL_ELEMENTS,
    Opcode.STATS: executor.STATS_OVERHEAD
    + (len(executor.STATS_HEADER) + TINY.stats_depth) * (FAIR_WAIT + 1),
    Opcode.READ: executor.READ_OVERHEAD
    + -(-TINY.act_depth // executor.ACT_WRITE_LANES) * (FAIR_WAIT + 1),
    Opcode.BARRIER: 1 + FAIR_WAIT,
    Opcode.CONV: PROCESSOR_CYCLES,
    Opcode.FC: PROCESSOR_CYCLES,
}
#: Own cycles of a NOP, an opcode that does not exist, or a bad header (but a LOAD); a bad
#: CONV or POOL waits executor.CHECK_CYCLES more in the header check's CHECK state first.
SKIP_CYCLES = 1
CHECKED = (Opcode.CONV, Opcode.POOL)

#: processor_progress is split by the opcode of the first header after reset: one bounded
#: check each, deep enough for that instruction's bound (what follows it is checked as far as
#: the depth goes). "other": a NOP or an opcode that does not exist. The LOAD's depth covers
#: LOADs of up to PROCESSOR_LOAD_WORDS payload words.
PROCESSOR_LOAD_WORDS = 8
PROGRESS_SPLIT = {
    "pool": (Opcode.POOL,), "conv": (Opcode.CONV,), "fc": (Opcode.FC,),
    "load": (Opcode.LOAD,), "read": (Opcode.READ,), "stats": (Opcode.STATS,),
    "barrier": (Opcode.BARRIER,), "other": (),
}


def _first_cycles(group):
    """The most own cycles of the first instruction of ``group``."""
    if group == "load":
        return executor.LOAD_OVERHEAD + PROCESSOR_LOAD_WORDS
    if group == "other":
        return SKIP_CYCLES
    return OWN_CYCLES[PROGRESS_SPLIT[group][0]]


def processor_depth(group):
    """Steps of processor_progress_<group>: reset, a header, its dispatch, its instruction's
    bound, a step for the property's report and one more."""
    return 1 + INSTRUCTION_WORDS + 1 + _first_cycles(group) + 2


def _is_group(opcode, group):
    """A value: ``opcode`` (a header's) belongs to ``group`` of PROGRESS_SPLIT."""
    opcodes = PROGRESS_SPLIT[group]
    if opcodes:
        return Cat(opcode == op for op in opcodes).any()
    known = [op for op in Opcode if op != Opcode.NOP]
    return ~Cat(opcode == op for op in known).any()


def _never_retires(group):
    """A broken CommandProcessor: an instruction of ``group`` never leaves its state."""
    def change(self, m):
        state = h.find(m, "state")
        header = instruction_layout(h.find(m, "header_bits")[:instruction_layout.size])
        with m.If((state != _State.FETCH) & _is_group(header.opcode, group)):
            m.d.sync += state.eq(state)
    name = "NOP or unknown" if group == "other" else group.upper()
    change.__doc__ = f"Broken: a {name} instruction never leaves its state (never retires)."
    change.__name__ = change.__qualname__ = f"_ProcessorNeverRetires_{group}"
    return h.breaks(CommandProcessor)(change)


def processor_progress_spec(variant, *, first="pool", bound=0):
    """Every instruction ends (the processor back in FETCH, ready for the next header) within
    its bound, the first after reset being of opcode group ``first``: OWN_CYCLES of its
    opcode (STATS: its golden count), a LOAD its golden count, SKIP_CYCLES for the rest
    (``bound`` added to the bounds of the group's opcodes: its tightness check passes -1),
    counting the cycles the processor is busy except those in which an engine computes on its
    own or a LOAD waits for a payload word. A bad header raises its error bit in the next
    cycle."""
    dut = h.pick(variant, CommandProcessor, _NEVER_RETIRES[first])(TINY)
    m = Module()
    m.submodules.dut = inner = h.elaborated(dut)
    h.drive(m, dut.cmd.valid, dut.cmd.payload)
    h.assume_stream(m, dut.cmd, name="cmd")
    h.drive(m, dut.o.ready)
    h.fair_ready(m, dut.o, FAIR_WAIT)
    gemm_computing = _systolic_engine(m, dut, inner)
    sparse_busy, _run, bad_run = _sparse_engine(m, dut)
    m.d.comb += Assert(~bad_run)  # the processor sends only RUNs that fit

    state = h.find(inner, "state")
    header = instruction_layout(h.find(inner, "header_bits")[:instruction_layout.size])
    assert len(h.find(inner, "header_bits")) == HEADER_BITS
    check = inner.submodules.check

    # The split: the first header dispatched after reset is of the group ``first``.
    dispatching = state == _State.EXEC
    dispatched = Signal(name="dispatched_before")
    with m.If(dispatching):
        m.d.sync += dispatched.eq(1)
    with m.If(dispatching & ~dispatched):
        m.d.comb += Assume(_is_group(header.opcode, first))

    waiting_payload = (state == _State.LOAD) & dut.cmd.ready & ~dut.cmd.valid
    busy = (state != _State.FETCH)
    own = busy & ~gemm_computing & ~sparse_busy & ~waiting_payload
    spent = Signal(range(1 << 12), name="own_cycles")
    with m.If(~busy):
        m.d.sync += spent.eq(0)
    with m.Elif(own & (spent != (1 << 12) - 1)):
        m.d.sync += spent.eq(spent + 1)
    # A bad header's verdict is the check's at dispatch: kept for the cycles after it.
    skipped = Signal(name="skipped")
    with m.If(dispatching):
        m.d.sync += skipped.eq(check.errors != 0)
    bad = Mux(dispatching, check.errors != 0, skipped)
    # The group's bounds take the slack (a tightness check's -1), but for its bad headers,
    # which are skipped in SKIP_CYCLES whatever their opcode, a CONV or a POOL after its CHECK
    # cycle (an unknown opcode is the "other" group's own: always bad).
    ours = _is_group(header.opcode, first) & (~bad if first != "other" else 1)
    slack = Mux(ours, bound, 0)
    limit = Signal(32, name="own_limit")  # a LOAD's bound is as wide as its count
    checked = Cat(header.opcode == op for op in CHECKED).any()
    m.d.comb += limit.eq(SKIP_CYCLES + Mux(checked, executor.CHECK_CYCLES, 0) + slack)
    retired = h.find(inner, "retired")
    logged = Mux(retired < TINY.stats_depth, retired, TINY.stats_depth)
    with m.Switch(header.opcode):
        for opcode, cycles in OWN_CYCLES.items():
            with m.Case(opcode):
                if opcode == Opcode.STATS:  # the golden count: its logged instructions
                    cycles = executor.STATS_OVERHEAD + (
                        len(executor.STATS_HEADER) + logged) * (FAIR_WAIT + 1)
                with m.If(~bad):
                    m.d.comb += limit.eq(cycles + slack)
        with m.Case(Opcode.LOAD):
            m.d.comb += limit.eq(_load_cycles(m, TINY, header.args.load, Mux(
                _is_group(header.opcode, first), bound, 0)))
    with m.If(own):
        m.d.comb += [Assert(spent < limit), Cover(spent == limit - 1)]

    # A bad header is skipped: retired in its dispatch cycle (a LOAD drains its payload
    # first, within its bound above), its sticky bit set in the next cycle.
    with m.If(dispatching & (check.errors != 0) & (header.opcode != Opcode.LOAD)):
        m.d.comb += Assert(h.find(inner, "retire"))
    dispatched_bad = h.past(m, dispatching & (check.errors != 0), name="was_bad")
    bad_bits = h.past(m, check.errors, name="bad_bits")
    with m.If(dispatched_bad):
        m.d.comb += Assert((dut.error & bad_bits) == bad_bits)
    return m


_NEVER_RETIRES = {group: _never_retires(group) for group in PROGRESS_SPLIT}


def _register_progress(group):
    first = _first_cycles(group)
    what = {"load": f"a LOAD (of up to {PROCESSOR_LOAD_WORDS} payload words: 3 + the larger "
                    "of its payload words and its writes, the golden count)",
            "other": "a NOP or an opcode that does not exist (1 cycle)"}.get(
        group, f"a {group.upper()} ({first} cycles)")
    spec = functools.partial(processor_progress_spec, first=group)
    h.proof(f"processor_progress_{group}", f"CommandProcessor(TINY), first {group.upper()}",
            "bmc", processor_depth(group), kind="progress", slow=True,
            covers=f"the first instruction after reset, {what}, and what follows it within "
                   "the depth, each done (its bad headers skipped, their sticky bit set) and "
                   "the next header word taken within its own bound, engines that answer "
                   "and o ready at least every other cycle",
            broken=_NEVER_RETIRES[group].__doc__.removeprefix("Broken: ").rstrip("."),
            why_bounded="the activation memory, the instruction log and the header check's "
                        "pipeline make the state too large for induction; the depth covers "
                        "a header and its instruction's bound")(spec)


for _group in PROGRESS_SPLIT:
    _register_progress(_group)
