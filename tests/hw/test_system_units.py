# amaranth: UnusedElaboratable=no
"""Units of the system top, with amaranth.sim against the golden executor (values and cycles)."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.golden.isa import INSTRUCTION_WORDS, Pool
from tessera.golden.pool import max_pool
from tessera.hw.system.pool import ADDRESS_STAGES, MaxPoolUnit

MEMORY = 1024


def run_pool(instr, memory, *, gap=0):
    """Run one POOL command on a Python memory; return (memory, cycles to the last write,
    cycles until ``cmd.ready`` again), counted in clock edges from the command's transfer."""
    dut = MaxPoolUnit()
    mem = memory.copy()
    result = {}

    async def bench(ctx):
        for _ in range(gap):
            await ctx.tick()
        ctx.set(dut.cmd.payload, instr.args())
        ctx.set(dut.cmd.valid, 1)
        assert ctx.get(dut.cmd.ready)
        await ctx.tick()                      # edge 0: the transfer
        ctx.set(dut.cmd.valid, 0)
        edge, last_write, pending = 0, None, None
        while True:
            if pending is not None:
                ctx.set(dut.rd_data, int(mem[pending]))
            if ctx.get(dut.wr_en):
                mem[ctx.get(dut.wr_addr)] = ctx.get(dut.wr_data)
                last_write = edge
            if ctx.get(dut.cmd.ready):
                break
            assert edge < 100_000, "the pool unit hangs"
            pending = ctx.get(dut.rd_addr) if ctx.get(dut.rd_en) else None
            await ctx.tick()
            edge += 1
        result.update(last_write=last_write, ready=edge)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return mem, result["last_write"], result["ready"]


def _case(rng):
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    k = int(rng.integers(1, min(h, w) + 1))
    return Pool(in_base=int(rng.integers(0, 200)), out_base=600 + int(rng.integers(0, 100)),
                h=h, w=w, c=int(rng.integers(1, 5)), kernel=k, stride=int(rng.integers(1, 4)))


@pytest.mark.parametrize("seed", range(12))
def test_pool_unit_matches_golden_values_and_cycles(seed):
    rng = np.random.default_rng(seed)
    instr = _case(rng)
    memory = rng.integers(-128, 128, size=MEMORY).astype(np.int8)
    out, last_write, ready = run_pool(instr, memory, gap=int(rng.integers(0, 3)))
    image = memory[instr.in_base:instr.in_base + instr.h * instr.w * instr.c]
    expected = max_pool(image.reshape(1, instr.h, instr.w, instr.c), instr.kernel, instr.stride)
    n = expected.size
    np.testing.assert_array_equal(out[instr.out_base:instr.out_base + n], expected.ravel(),
                                  strict=True, err_msg=f"seed {seed}: {instr}")
    untouched = np.ones(MEMORY, dtype=bool)
    untouched[instr.out_base:instr.out_base + n] = False
    np.testing.assert_array_equal(out[untouched], memory[untouched], err_msg=f"seed {seed}")
    reads = n * instr.kernel ** 2
    d = ADDRESS_STAGES
    assert (last_write, ready) == (d + reads, d + reads + 1), f"seed {seed}: {instr}"


def test_pool_unit_timing_is_the_executor_formula():
    from tessera.golden.executor import CHECK_CYCLES, Executor
    from tessera.golden.system_config import SystemConfig

    instr = Pool(0, 500, h=6, w=5, c=3, kernel=2, stride=2)
    _, _, ready = run_pool(instr, np.zeros(MEMORY, dtype=np.int8))
    # The command processor spends the header's words, the header check's last stage and one
    # cycle handing it over. The system adds its dispatch cycle before the unit and the cycle
    # it sees it idle after.
    assert (Executor(SystemConfig()).step(instr).cycles
            == INSTRUCTION_WORDS + CHECK_CYCLES + 2 + ready)


def test_pool_unit_ignores_an_empty_command():
    instr = Pool(0, 500, h=0, w=5, c=3, kernel=2, stride=2)
    mem, last_write, ready = run_pool(instr, np.ones(MEMORY, dtype=np.int8))
    assert last_write is None and ready == 0
    assert (mem == 1).all()


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_pool_unit_cocotb(sim):
    from tessera.sim.runner import Design, simulate

    simulate(Design(MaxPoolUnit), "tests.hw.tb_system_pool", sim=sim, params={"cases": 12})


# -- im2col address generator ----------------------------------------------------------------

def run_im2col(dut, conv, *, ready_seed=None):
    """Return (words as (W, R) addresses with ZERO, edge of each transfer, edge ready again)."""
    from tessera.golden.im2col_stream import ZERO

    words, edges, result = [], [], {}
    rng = np.random.default_rng(ready_seed)

    async def bench(ctx):
        ctx.set(dut.cmd.payload, conv.args())
        ctx.set(dut.cmd.valid, 1)
        assert ctx.get(dut.cmd.ready)
        await ctx.tick()                      # edge 0: the transfer
        ctx.set(dut.cmd.valid, 0)
        edge = 0
        while not ctx.get(dut.cmd.ready):
            ready = ready_seed is None or rng.random() < 0.6
            ctx.set(dut.o.ready, ready)
            if ready and ctx.get(dut.o.valid):
                lanes = ctx.get(dut.o.payload)
                words.append([ZERO if lane["zero"] else lane["addr"] for lane in lanes])
                edges.append(edge + 1)
            assert edge < 100_000, "the im2col generator hangs"
            await ctx.tick()
            edge += 1
        result["ready"] = edge

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(words, dtype=np.int64).reshape(-1, dut.rows), edges, result["ready"]


@pytest.mark.parametrize("seed", range(16))
def test_im2col_generator_matches_golden_stream(seed):
    from tessera.golden.im2col_stream import im2col_addresses
    from tessera.golden.system_config import SystolicConfig
    from tessera.hw.system.im2col import Im2colAddressGenerator

    from tests.golden.test_im2col_stream import random_conv

    rng = np.random.default_rng(seed)
    conv = random_conv(rng)
    rows, tile_m = int(rng.integers(1, 6)), int(rng.integers(1, 12))
    config = SystolicConfig(rows=rows, cols=4, max_m=512, max_k=512, acc_depth=tile_m)
    expected = im2col_addresses(conv, config)
    dut = Im2colAddressGenerator(rows=rows, tile_m=tile_m)
    backpressure = seed % 2 == 1
    words, edges, ready = run_im2col(dut, conv, ready_seed=seed if backpressure else None)
    np.testing.assert_array_equal(words, expected, err_msg=f"seed {seed}: {conv}")
    if not backpressure:  # one word a cycle after the pipeline's latency, then ready again
        d = dut.latency
        assert d == min(3, rows)
        assert edges == list(range(d + 1, d + len(expected) + 1)), f"seed {seed}"
        assert ready == d + len(expected), f"seed {seed}"


@pytest.mark.parametrize(("rows", "seed"), [(r, s) for r in (8, 16, 32) for s in range(3)])
def test_im2col_generator_wide_arrays(rows, seed):
    """Lanes far past c and k (c = 1, 1 x 1 kernels among them): each lane's digits table."""
    from tessera.golden.im2col_stream import im2col_addresses
    from tessera.golden.system_config import SystolicConfig
    from tessera.hw.system.im2col import Im2colAddressGenerator

    from tests.golden.test_im2col_stream import random_conv

    rng = np.random.default_rng(100 + seed)
    conv = random_conv(rng)
    if seed == 0:  # the smallest radices: every lane carries
        from dataclasses import replace

        conv = replace(conv, c=1, kernel=1, padding=0, row0=0, rows=1)
    config = SystolicConfig(rows=rows, cols=4, max_m=512, max_k=512, acc_depth=5)
    expected = im2col_addresses(conv, config)
    words, edges, ready = run_im2col(Im2colAddressGenerator(rows=rows, tile_m=5), conv)
    np.testing.assert_array_equal(words, expected, err_msg=f"rows {rows}, seed {seed}: {conv}")
    assert edges == list(range(4, len(expected) + 4)), f"rows {rows}, seed {seed}"
    assert ready == len(expected) + 3, f"rows {rows}, seed {seed}"


@pytest.mark.parametrize(("sim", "rows", "tile_m", "valid", "ready"), [
    ("icarus", 3, 5, ["bursty"], ["random"]),
    ("verilator", 4, 7, ["random"], ["bursty"]),
])
def test_im2col_generator_cocotb(sim, rows, tile_m, valid, ready):
    from tessera.hw.system.im2col import Im2colAddressGenerator
    from tessera.sim.runner import Design, simulate

    simulate(Design(Im2colAddressGenerator, rows=rows, tile_m=tile_m),
             "tests.hw.tb_system_im2col", sim=sim,
             params={"rows": rows, "tile_m": tile_m, "valid": valid, "ready": ready,
                     "cases": 8})


# -- header check --------------------------------------------------------------------------

def _random_header(rng, config):
    """A random instruction, its fields mostly near the limits of ``config`` (or a bad opcode)."""
    from tessera.golden.isa import FIELD_BITS, Barrier, Conv, Fc, Load, Op, Raw, Read, Stats

    op = Op(int(rng.integers(0, 8))) if rng.random() < 0.9 else None
    if op is None:
        return Raw(int(rng.integers(8, 16)) | int(rng.integers(0, 2**62)) << 4)
    if op == Op.CONV and rng.random() < 0.5:  # a valid geometry, ranges close together
        from dataclasses import replace

        from tests.golden.test_im2col_stream import random_conv

        conv = random_conv(rng)
        return replace(conv, out_base=int(rng.integers(0, 120)), oc=int(rng.integers(1, 5)),
                       w_base=int(rng.integers(0, 1024)), q_base=int(rng.integers(0, 128)))
    args = {}
    for name, bits in FIELD_BITS[op].items():
        if rng.random() < 0.3:
            args[name] = int(rng.integers(0, 2**bits))
        else:
            args[name] = int(rng.integers(0, min(2**bits, 12 if bits <= 9 else 600)))
    if op == Op.LOAD:
        args["pe"] = int(rng.integers(0, 6))
    cls = {Op.NOP: None, Op.LOAD: Load, Op.CONV: Conv, Op.FC: Fc, Op.POOL: Pool,
           Op.READ: Read, Op.STATS: Stats, Op.BARRIER: Barrier}[op]
    if cls is None:
        return Raw(0)
    if op == Op.LOAD:
        args["count"] = min(args["count"], 300)
        args["payload"] = [0] * args["count"]
    return cls(**args)


@pytest.mark.parametrize("seed", range(3))
def test_header_check_equals_golden(seed):
    from tessera.golden.executor import instruction_errors
    from tessera.golden.isa import Op
    from tessera.golden.system_config import SparseConfig, SystemConfig, SystolicConfig
    from tessera.hw.system.check import LATENCY, HeaderCheck
    from tessera.sim.host.system import header_bits

    config = SystemConfig(
        systolic=SystolicConfig(rows=4, cols=4, max_m=32, max_k=128, max_n=16),
        sparse=SparseConfig(n_pes=4, spmat_depth=256, ptr_depth=512, act_depth=64,
                            param_depth=64),
        act_depth=4096, weight_depth=1024, qparam_depth=128)
    rng = np.random.default_rng(seed)
    cases = [_random_header(rng, config) for _ in range(3000)]
    expected = [int(instruction_errors(i, config)) for i in cases]
    assert len(set(expected)) == 4, f"seed {seed}: not every outcome drawn"
    dut = HeaderCheck(config)
    got, sizes = [], []

    async def bench(ctx):
        # The header settles word by word, as the processor fetches it: word 0, one cycle later
        # words 0-1, then all four; the outputs are read LATENCY cycles after word 0.
        previous = 0
        for instr in cases:
            bits = header_bits(instr)
            for words in (1, 2, 4) + (4,) * (LATENCY - 3):
                mask = (1 << (32 * words)) - 1
                ctx.set(dut.header.as_value(), (bits & mask) | (previous & ~mask))
                await ctx.tick()
            got.append(ctx.get(dut.errors))
            sizes.append({name: ctx.get(getattr(dut.conv, name)) for name in
                          ("m", "k", "b_words", "out_offset", "results")})
            previous = bits

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    bad = [n for n, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e]
    assert not bad, (f"seed {seed}: {len(bad)} mismatches, first {cases[bad[0]]}: expected "
                     f"{expected[bad[0]]}, got {got[bad[0]]}")
    convs = 0
    for instr, error, size in zip(cases, expected, sizes, strict=True):
        if error or getattr(instr, "op", None) != Op.CONV:
            continue
        convs += 1
        ow = (instr.w + 2 * instr.padding - instr.kernel) // instr.stride + 1
        k = instr.kernel ** 2 * instr.c
        want = {"m": instr.rows * ow, "k": k, "b_words": config.systolic.b_words(k, instr.oc),
                "out_offset": instr.row0 * ow * instr.oc, "results": instr.rows * ow * instr.oc}
        assert size == want, f"seed {seed}: {instr}: sizes {size}, expected {want}"
    assert convs > 50, f"seed {seed}: only {convs} valid CONVs drawn"


def test_divide_by_stride_is_exact():
    from amaranth import Signal
    from tessera.hw.system.check import divide_by_stride

    x, stride = Signal(9), Signal(3)
    m, quotient = divide_by_stride(x, stride)
    wrong = []

    async def bench(ctx):
        for s in range(8):
            ctx.set(stride, s)
            for value in range(512):
                ctx.set(x, value)
                got = ctx.get(quotient)
                if got != (value // s if s else 0):
                    wrong.append((value, s, got))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not wrong, f"x // stride wrong for (x, stride, got) {wrong[:5]}"


def test_check_wait_matches_the_checks_latency():
    """The executor's CHECK_CYCLES are the header check's stages past the header's last word."""
    from tessera.golden.executor import CHECK_CYCLES
    from tessera.golden.isa import INSTRUCTION_WORDS
    from tessera.hw.system.check import LATENCY

    assert CHECK_CYCLES == LATENCY - (INSTRUCTION_WORDS - 1)
