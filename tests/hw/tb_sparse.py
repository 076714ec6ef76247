"""cocotb testbenches of the sparse PE array (tessera.hw.sparse.SparseArray).

Every layer is checked twice, inside the simulation: its outputs against the golden SpMV and
requantization (tessera.golden.eie.spmv, tessera.golden.quant.requantize), integer for integer, and
its
counters against the golden cycle model (tessera.golden.sparse_cycles): compute cycles, busy and
stall
cycles of every PE, non-zeros broadcast, and write-back cycles when the outputs are taken
without back-pressure. Random cases come from tessera.sim.tb.rng(), seeded by cocotb's seed, which
the
runner prints when a test fails.
"""

from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge
from tessera.golden.config.sparse import SparseConfig
from tessera.golden.eie import encode, spmv
from tessera.golden.quant import quantize_multiplier, requantize
from tessera.golden.sparse_cycles import matrix_cycles
from tessera.hw.sparse.protocol import Error, Op
from tessera.sim import tb
from tessera.sim.cosim.spmv import SparseHost
from tessera.sim.host.sparse import Program, parse_stats, stats_words


def config_of(dut):
    """The SparseConfig the design was built with (passed in the params)."""
    return SparseConfig(**tb.params()["config"])


# -- building cases --------------------------------------------------------------------------

def random_matrix(rng, cfg, rows, cols, density, *, index_bits=None):
    """A random matrix in EIE format for ``cfg``, with a random codebook of distinct values."""
    bits = index_bits or cfg.index_bits
    low, high = -(2 ** (cfg.weight_width - 1)), 2 ** (cfg.weight_width - 1)
    values = rng.permutation(np.setdiff1d(np.arange(low, high), [0]))[:2**bits - 1]
    codebook = np.concatenate([[0], values])
    indices = (rng.random((rows, cols)) < density) * rng.integers(1, codebook.size,
                                                                  (rows, cols))
    return encode(indices, codebook, n_pes=cfg.n_pes, rel_bits=cfg.rel_bits, index_bits=bits)


def fitting_matrix(rng, cfg, rows, cols, density):
    """A random matrix that fits the memories: halve the rows until it does."""
    from tessera.golden.errors import TesseraError

    while True:
        matrix = random_matrix(rng, cfg, rows, cols, density)
        try:
            Program(cfg).check(matrix)
            return matrix
        except TesseraError:
            if rows == 1:
                raise
            rows = max(1, rows // 2)


def random_activations(rng, cols, density):
    x = rng.integers(-128, 128, cols).astype(np.int8)
    x[rng.random(cols) >= density] = 0
    return x


def random_requant(rng, matrix, x):
    """Per-row bias, multiplier and shift that map this product's range onto int8, each row
    scaled by its own factor in [1/4, 4] (so that few outputs saturate and every parameter
    row matters)."""
    acc = spmv(matrix, x, overflow="wrap").y.astype(np.int64)
    peak = max(1, int(np.abs(acc).max(initial=0)))
    factor = np.exp(rng.uniform(np.log(0.25), np.log(4), matrix.rows))
    multiplier, shift = quantize_multiplier(factor * 127 / peak)
    bias = rng.integers(-(peak // 4) - 1, peak // 4 + 1, matrix.rows)
    return bias, np.asarray(multiplier), np.asarray(shift)


@dataclass
class Expect:
    """What a segment of the output stream must be."""

    what: str                     # "y" or "stats"
    count: int                    # words
    value: object = None          # expected y (int64 array) or SparseCycles
    errors: int = 0               # expected error bits (stats)
    note: str = ""
    exact_writeback: bool = True


@dataclass
class Job:
    """Command words and what they make the array send."""

    words: list = field(default_factory=list)
    expect: list = field(default_factory=list)

    def extend(self, program, expect):
        self.words += program.words
        program.words = []
        self.expect.append(expect)


def layer(program, job, matrix, x, *, relu=False, raw=False, emit=True, requant=None,
          note="", stats=True, exact_writeback=True):
    """Load ``matrix``, load ``x``, run, read the stats; record the expected outputs."""
    cfg = program.config
    bias, multiplier, shift = requant if requant is not None else (0, 1, 0)
    loaded = program.load(matrix, bias, multiplier, shift)
    program.activations(x, matrix.cols)
    return run(program, job, loaded, matrix, x, relu=relu, raw=raw, emit=emit,
               requant=(bias, multiplier, shift), note=note, stats=stats, cfg=cfg,
               exact_writeback=exact_writeback)


def expected_y(matrix, x, *, relu, raw, requant):
    acc = spmv(matrix, x, overflow="wrap").y.astype(np.int64)
    if raw:
        return acc
    bias, multiplier, shift = requant
    return requantize(acc, bias, multiplier, shift, relu=relu).astype(np.int64)


def run(program, job, loaded, matrix, x, *, relu, raw, emit, requant, note, stats=True,
        cfg=None, exact_writeback=True):
    """Run an already loaded layer on the source activations ``x``."""
    cfg = cfg or program.config
    program.run(loaded, relu=relu, raw=raw, emit=emit)
    y = expected_y(matrix, x, relu=relu, raw=raw, requant=requant)
    if emit:
        job.extend(program, Expect("y", matrix.rows, y, note=note))
    if stats:
        program.stats()
        cycles = matrix_cycles(matrix, x, fifo_depth=cfg.fifo_depth, emit=emit)
        job.extend(program, Expect("stats", stats_words(cfg), cycles, note=note,
                                   exact_writeback=exact_writeback))
    return y


# -- running and checking ----------------------------------------------------------------------

class SparseTB:
    def __init__(self, dut, *, valid=("always",), ready=("always",), seed=0):
        self.dut = dut
        self.cfg = config_of(dut)
        tb.start_clock(dut)
        # No test layer runs 20,000 cycles without a command taken or an output sent.
        self.host = SparseHost(dut, valid=valid, ready=ready, seed=seed, limit=20_000)
        self.checked = 0

    async def reset(self):
        await self.host.reset()
        self.host.received.clear()

    def figures(self):
        """What the test reports: the expected segments checked."""
        return {"checked": self.checked}

    async def execute(self, job):
        """Send a job's words and check every output segment it expects."""
        first = len(self.host.received)
        total = sum(e.count for e in job.expect)
        sender = cocotb.start_soon(self.host.send(job.words))
        out = await self.host.outputs(first + total)
        await sender
        await self.host.wait_idle()
        pos = first
        for expect in job.expect:
            self.check(expect, out[pos:pos + expect.count])
            pos += expect.count
        assert len(self.host.received) == first + total, (
            f"the array sent {len(self.host.received) - first - total} words too many")

    def check(self, expect, words):
        where = f" ({expect.note})" if expect.note else ""
        if expect.what == "y":
            got = np.array(words, dtype=np.int64)
            bad = np.flatnonzero(got != expect.value)
            if bad.size:
                i = int(bad[0])
                raise AssertionError(
                    f"output mismatch{where}: row {i} of {got.size}: expected "
                    f"{int(expect.value[i])} (0x{int(expect.value[i]) & 0xFFFFFFFF:08x}), got "
                    f"{int(got[i])} (0x{int(got[i]) & 0xFFFFFFFF:08x}); {bad.size} rows differ")
        else:
            got = parse_stats(words, self.cfg)
            model = expect.value
            assert got["errors"] == expect.errors, (
                f"error bits{where}: expected {Error(expect.errors)!r}, got "
                f"{Error(got['errors'])!r}")
            if model is not None:
                pairs = [("compute cycles", got["cycles"], model.cycles),
                         ("non-zeros", got["nonzeros"], model.nonzeros)]
                for name, hw, gold in pairs:
                    assert hw == gold, f"{name}{where}: model {gold}, hardware {hw}"
                for name in ("busy", "stall"):
                    hw, gold = got[name], getattr(model, name)
                    assert np.array_equal(hw, gold), (
                        f"{name} cycles per PE{where}: model {gold.tolist()}, hardware "
                        f"{hw.tolist()}")
                if expect.exact_writeback:
                    assert got["writeback_cycles"] == model.writeback, (
                        f"write-back cycles{where}: model {model.writeback}, hardware "
                        f"{got['writeback_cycles']}")
                else:
                    assert got["writeback_cycles"] >= model.writeback, (
                        f"write-back cycles{where}: {got['writeback_cycles']} under "
                        f"back-pressure, fewer than the unstalled {model.writeback}")
        self.checked += 1


def patterns():
    p = tb.params()
    return tuple(p.get("valid", ["always"])), tuple(p.get("ready", ["always"]))


# -- the tests -------------------------------------------------------------------------------

@cocotb.test()
async def random_layers(dut):
    """Random matrices (1%..100% dense) and activations (0%..100%), raw and requantized."""
    p = tb.params()
    valid, ready = patterns()
    t = SparseTB(dut, valid=valid, ready=ready, seed=p.get("pattern_seed", 0))
    await t.reset()
    rng = tb.rng()
    cfg = t.cfg
    limit = min(cfg.max_acts, p.get("max_size", 48))
    exact = ready == ("always",)
    for case in range(p.get("cases", 20)):
        density = float(rng.choice([0.01, 0.05, 0.1, 0.3, 0.6, 1.0]))
        act_density = float(rng.choice([0.0, 0.1, 0.35, 0.7, 1.0]))
        rows, cols = (int(s) for s in rng.integers(1, limit + 1, 2))
        matrix = fitting_matrix(rng, cfg, rows, cols, density)
        rows = matrix.rows
        x = random_activations(rng, cols, act_density)
        raw = bool(rng.random() < 0.4)
        program = Program(cfg)
        job = Job()
        layer(program, job, matrix, x, raw=raw, relu=bool(rng.integers(2)),
              emit=bool(rng.random() < 0.8) or raw,
              requant=None if raw else random_requant(rng, matrix, x),
              note=f"case {case}: {rows}x{cols}, weights {density:.0%}, activations "
                   f"{act_density:.0%}", exact_writeback=exact)
        await t.execute(job)
    tb.report(checked=t.checked)


def eie_figure2(rng):
    """EIE's Figure 2 matrix (16x8, 4 PEs): PE 0's non-zeros as in the paper, others random."""
    pe0 = {0: [0, 8, 12], 1: [4], 2: [0, 12], 4: [0, 4], 5: [0, 12], 6: [0], 7: [8, 12]}
    mask = np.zeros((16, 8), dtype=bool)
    for col, rows in pe0.items():
        mask[rows, col] = True
    others = np.arange(16) % 4 != 0
    mask[others] = rng.random((12, 8)) < 0.4
    return mask


@tb.bench_test(SparseTB, salt=1)
async def eie_example(t, rng):
    """EIE's 4-PE example: Figure 2's 16x8 matrix and its activation vector a = (0, 0, a2, 0,
    a4, a5, 0, a7); Figure 3's PE 0 memories; exact outputs and cycles."""
    cfg = t.cfg
    assert cfg.n_pes == 4, "EIE's example is a 4-PE array"
    mask = eie_figure2(rng)
    codebook = np.concatenate([[0], rng.permutation(np.setdiff1d(np.arange(-128, 128), [0]))[
        :2**cfg.index_bits - 1]])
    indices = mask * rng.integers(1, codebook.size, mask.shape)
    matrix = encode(indices, codebook, n_pes=4, rel_bits=cfg.rel_bits,
                    index_bits=cfg.index_bits)
    pe0 = matrix.pe(0)
    np.testing.assert_array_equal(pe0.z, [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0])
    np.testing.assert_array_equal(pe0.col_ptr, [0, 3, 4, 6, 6, 8, 10, 11, 13])
    job = Job()
    for x in (np.array([0, 0, 5, 0, 7, -3, 0, 2], dtype=np.int8),    # the paper's pattern
              np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=np.int8),
              np.array([-128] * 8, dtype=np.int8)):
        layer(Program(cfg), job, matrix, x, raw=True, note=f"x = {x.tolist()}")
    await t.execute(job)


@tb.bench_test(SparseTB, salt=2)
async def corners(t, rng):
    """Padding (zero runs longer than a relative index spans), empty columns, all-zero and
    all-dense activations, PEs without rows, a single row, saturation at -128 * -128."""
    cfg = t.cfg
    n, span = cfg.n_pes, 2**cfg.rel_bits
    rows = min(cfg.max_acts, n * (3 * span + 2))
    cols = min(cfg.max_acts, 12)
    low = -(2 ** (cfg.weight_width - 1))
    book = np.concatenate([[0], low + np.arange(2**cfg.index_bits - 1)])
    jobs = Job()

    # Padding: in each column one non-zero per PE far down, and one after a run of 2 spans.
    idx = np.zeros((rows, cols), dtype=np.int64)
    for j in range(cols):
        for k in range(n):
            local = (rows - 1 - k) // n
            if local * n + k < rows and j % 3 != 2:  # every third column stays empty
                idx[local * n + k, j] = 1 + (j + k) % (book.size - 1)
    idx[min(rows - 1, (2 * span + 1) * n), 0] = 1
    matrix = encode(idx, book, n_pes=n, rel_bits=cfg.rel_bits, index_bits=cfg.index_bits)
    assert matrix.n_padding > 0, "the padding case has no padding"
    for x in (np.full(cols, -128, dtype=np.int8), random_activations(rng, cols, 0.5),
              np.zeros(cols, dtype=np.int8)):
        layer(Program(cfg), jobs, matrix, x, raw=True, note=f"padding, x {x[:4].tolist()}..")

    # PEs without rows: fewer rows than PEs (rows 1 .. n - 1), and a single row.
    for few in sorted({1, max(1, n - 1), max(1, n // 2)}):
        matrix = random_matrix(rng, cfg, few, cols, 0.7)
        layer(Program(cfg), jobs, matrix, random_activations(rng, cols, 0.8), raw=True,
              note=f"{few} rows on {n} PEs")
    # A single column, dense; a column count that is not a multiple of N.
    for shape in ((rows, 1), (rows // 2 + 1, n + 1)):
        matrix = random_matrix(rng, cfg, *shape, 1.0)
        layer(Program(cfg), jobs, matrix, random_activations(rng, shape[1], 1.0), raw=True,
              note=f"dense {shape}")
    # Stale activations past the last column (a longer vector was loaded): they are ignored.
    if n > 1:
        short = 3 * n + 1
        matrix = random_matrix(rng, cfg, rows // 2 + 1, short, 0.8)
        stale = rng.integers(1, 128, short + n).astype(np.int8)
        program = Program(cfg)
        loaded = program.load(matrix)
        program.activations(stale)
        run(program, jobs, loaded, matrix, stale[:short], relu=False, raw=True, emit=True,
            requant=(0, 1, 0), note="stale activations past the last column")
    # All-zero weights with dense activations: every column is empty everywhere.
    matrix = random_matrix(rng, cfg, rows, cols, 0.0)
    layer(Program(cfg), jobs, matrix, random_activations(rng, cols, 1.0), raw=True,
          note="all-zero weights")
    # Requantization corners through the same path: saturation both ways, ReLU.
    matrix = random_matrix(rng, cfg, min(rows, 40), cols, 0.5)
    r = matrix.rows
    layer(Program(cfg), jobs, matrix, random_activations(rng, cols, 1.0), relu=True,
          requant=(rng.integers(-2**31, 2**31, r), np.full(r, 2**16 - 1), rng.integers(0, 48, r)),
          note="requantize extremes")
    await t.execute(jobs)


@tb.bench_test(SparseTB, salt=3)
async def swapped_layers(t, rng):
    """Layers chained on chip: layer 2 reads layer 1's outputs from the swapped buffer, layer 3
    layer 2's; only the last sends its outputs (then a raw layer, which does not swap)."""
    cfg = t.cfg
    size = min(cfg.max_acts, 40)
    shapes = [(size, size // 2 + 3), (size // 2 + 1, size), (7, size // 2 + 1)]
    matrices = [random_matrix(rng, cfg, r, c, d) for (r, c), d in zip(shapes, (0.3, 0.5, 0.9))]
    x = random_activations(rng, shapes[0][1], 0.6)
    requants, a = [], x
    for n, m in enumerate(matrices):  # the chain in golden first: each layer's scale from its input
        requants.append(random_requant(rng, m, a))
        a = expected_y(m, a, relu=n < len(matrices) - 1, raw=False,
                       requant=requants[-1]).astype(np.int8)
    program = Program(cfg)
    job = Job()
    loaded = [program.load(m, *q) for m, q in zip(matrices, requants)]
    program.activations(x, shapes[0][1])
    a = x
    for n, (m, q, lay) in enumerate(zip(matrices, requants, loaded)):
        last = n == len(matrices) - 1
        y = run(program, job, lay, m, a, relu=not last, raw=False, emit=last or n == 0,
                requant=q, note=f"layer {n + 1} of {len(matrices)}")
        a = y.astype(np.int8)
        assert np.count_nonzero((y > -128) & (y < 127)) > y.size // 4, "outputs saturate"
    # A raw layer from the last outputs, twice: raw does not swap, so both read the same input.
    raw_m = random_matrix(rng, cfg, 5, matrices[-1].rows, 1.0)
    raw_l = program.load(raw_m)
    for n in range(2):
        run(program, job, raw_l, raw_m, a, relu=False, raw=True, emit=True,
            requant=(0, 1, 0), note=f"raw layer {n + 1} from the swapped buffer")
    await t.execute(job)


@tb.bench_test(SparseTB, salt=4)
async def reset_mid_layer(t, rng):
    """Reset while a layer computes (accumulators half full), then a clean layer is exact."""
    dut = t.dut
    cfg = t.cfg
    size = min(cfg.max_acts, 48)
    matrix = fitting_matrix(rng, cfg, size, size, 0.6)
    x = random_activations(rng, size, 1.0)
    job = Job()
    layer(Program(cfg), job, matrix, x, raw=True)
    half = matrix_cycles(matrix, x, fifo_depth=cfg.fifo_depth).cycles // 2
    run_index = len(job.words) - 2  # ..., RUN, STATS
    assert Program(cfg).decode(job.words[run_index]).op == Op.RUN
    sender = cocotb.start_soon(t.host.send(job.words))
    # Wait until the RUN was taken, then let the layer run halfway.
    while t.host.sent <= run_index:
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, max(1, half))
    assert int(dut.busy.value), "the layer finished before the reset"
    sender.cancel()
    await t.reset()
    assert not t.host.received, "outputs arrived from the interrupted layer"
    # The same layer again from scratch (the matrix memories kept their contents, the
    # accumulators were swept): the program reloads everything anyway.
    again = Job()
    layer(Program(cfg), again, matrix, x, raw=True, note="after reset")
    other = fitting_matrix(rng, cfg, size // 2, size, 0.3)
    layer(Program(cfg), again, other, random_activations(rng, size, 0.5), raw=True,
          note="second layer after reset")
    await t.execute(again)


@tb.bench_test(SparseTB, salt=5)
async def bad_input(t, rng):
    """What the hardware does with input the host should never send: it never hangs.

    Each case flags its error bit, skips or ignores the bad part, and a clean layer after it is
    exact. A configuration write out of range (a codebook slot past the count too) is ignored;
    a RUN too large for the memories, or naming a codebook slot past the count, is skipped; a
    column whose pointers run past the matrix memory is skipped by its PE; an entry whose
    relative indices walk past the PE's rows is dropped with the rest of its column; an entry
    whose codebook index was not loaded contributes nothing.
    """
    cfg = t.cfg
    size = min(cfg.max_acts, 24)
    n = cfg.n_pes

    async def flagged(job, program, error, note, after):
        """Read the statistics (expecting ``error``), then a clean layer; execute the job."""
        program.stats()
        job.extend(program, Expect("stats", stats_words(cfg), None, error, note))
        m = random_matrix(rng, cfg, size, size, 0.4)
        layer(Program(cfg), job, m, random_activations(rng, size, 0.7), raw=True,
              note=f"clean layer after {after}")
        await t.execute(job)

    def loaded_with(m, x):
        """A program that loads ``m`` and writes ``x``; and where ``m`` is loaded."""
        program = Program(cfg)
        loaded = program.load(m)
        program.activations(x, size)
        return program, loaded

    # 1. Configuration writes past their memories, and to a PE that does not exist.
    job = Job()
    program = Program(cfg)
    program.command(Op.SPMAT, pe=0, addr=cfg.spmat_depth, data=1)
    program.command(Op.PARAMS, pe=0, addr=cfg.param_depth, data=1)
    if 2**cfg.pe_bits > n:
        program.command(Op.POINTERS, pe=n, addr=0, data=0)
    program.command(Op.CODEBOOK, addr=cfg.codebook_depth, data=1)  # a slot past the count
    await flagged(job, program, Error.CONFIG, "config range", "config writes out of range")

    # 2. A RUN too large for the memories: skipped, no outputs, no swap.
    job = Job()
    program = Program(cfg)
    program.run_fields(cfg.max_acts + 1, rows=4, emit=True)
    program.run_fields(4, rows=cfg.max_acts + 1, emit=True)
    program.run_fields(cfg.ptr_depth, rows=4, emit=True)
    if cfg.codebooks < 16:
        program.run_fields(4, rows=4, emit=True, codebook=cfg.codebooks)  # no such slot
    await flagged(job, program, Error.RUN, "RUN too large", "a RUN too large")

    # 3. Pointers past the matrix memory (PE 0, columns 1 and 2) and an end pointer before its
    #    start (PE n-1, column 0): those columns are skipped by those PEs; the rest is exact.
    m = random_matrix(rng, cfg, size, size, 0.5)
    x = random_activations(rng, size, 1.0)
    x[0:3] = 7
    program, loaded = loaded_with(m, x)
    first = [int(p) + loaded.entry_base[0] for p in m.pe(0).col_ptr]
    # p[2] of PE 0 past the memory: column 1 ends past it, column 2 starts after its end.
    program.pointers(0, loaded.ptr_base // 2 + 1, cfg.capacity + 1, first[3])
    # p[0] of PE n-1 after p[1]: column 0 ends before it starts (p[0] serves no other column).
    last = [int(p) + loaded.entry_base[n - 1] for p in m.pe(n - 1).col_ptr]
    program.pointers(n - 1, loaded.ptr_base // 2, last[1] + 1, last[1])
    skipped = {(0, 1), (0, 2), (n - 1, 0)}
    program.run(loaded, raw=True)
    dense = m.codebook[_indices(m)]
    for k, j in skipped:
        dense[k::n, j] = 0
    y = dense @ x.astype(np.int64)
    job = Job()
    job.extend(program, Expect("y", m.rows, y, note="bad pointers"))
    await flagged(job, program, Error.POINTER, "bad pointers", "bad pointers")

    # 4. Relative indices walking past the PE's rows: the layer says fewer rows than the matrix
    #    has, so PE 0's entries in the last rows fall outside; they are dropped.
    m = random_matrix(rng, cfg, size, size, 1.0)
    x = random_activations(rng, size, 1.0)
    program, loaded = loaded_with(m, x)
    short = size - n  # the last local row of every PE is past the end
    program.codebook(loaded.codebook)
    program.run_fields(size, rows=short, ptr_base=loaded.ptr_base,
                       param_base=loaded.param_base, raw=True, emit=True)
    job = Job()
    job.extend(program, Expect("y", short, spmv(m, x, overflow="wrap").y[:short],
                               note="rows walk past the end"))
    await flagged(job, program, Error.ROW, "rows past end", "rows past the end")

    # 5. Codebook indices outside the loaded table: load only entries 0 and 1.
    m = random_matrix(rng, cfg, size, size, 0.6)
    x = random_activations(rng, size, 1.0)
    program, loaded = loaded_with(m, x)
    program.codebook(m.codebook[:2])
    program.run(loaded, raw=True, codebook=False)
    idx = _indices(m)
    y = np.where(idx == 1, m.codebook[1], 0) @ x.astype(np.int64)
    job = Job()
    job.extend(program, Expect("y", m.rows, y, note="codebook of 2 entries"))
    await flagged(job, program, Error.CODE if (idx > 1).any() else 0, "unloaded codebook",
                  "an unloaded codebook entry")


def _indices(matrix):
    from tessera.golden.eie import decode_indices

    return decode_indices(matrix)


# -- verification depth (issue 16): saturation both ways, resident layers at random bases -----

@tb.bench_test(SparseTB)
async def saturating_corners(t, rng):
    """Requantized layers whose outputs reach -128 and 127 (both clamps, without ReLU), and the
    largest product the design allows: activation -128 times the most negative weight (-128 x -128
    where weights are 8 bits or wider), raw and requantized."""
    cfg = t.cfg
    n = cfg.n_pes
    low = -(2 ** (cfg.weight_width - 1))
    most = max(low, -128)                 # -128 when the weights hold it
    rows = min(cfg.max_acts, 2 * n + 3)
    cols = min(cfg.max_acts, 7)
    book = np.concatenate([[0], [most, 1, -1][:2**cfg.index_bits - 1]])
    job = Job()

    # Every weight the most negative one, every activation -128: each row's sum is
    # cols * most * -128 (16384 a product on 8-bit weights), raw and through the post-processor.
    matrix = encode(np.ones((rows, cols), dtype=np.int64), book, n_pes=n, rel_bits=cfg.rel_bits,
                    index_bits=cfg.index_bits)
    x = np.full(cols, -128, dtype=np.int8)
    y = layer(Program(cfg), job, matrix, x, raw=True, note="-128 x most negative weight, raw")
    assert int(y.min()) == int(y.max()) == cols * most * -128
    # Requantized: alternate rows are pushed far below and far above int8 by the bias; the
    # middle rows land inside: saturation to -128 and to 127 without ReLU, and exact values.
    peak = cols * most * -128
    bias = np.array([(-1) ** i * (2**30) if i % 3 != 2 else -peak + 5 * i for i in range(rows)])
    requant = (bias, np.full(rows, 1), np.zeros(rows, dtype=np.int64))
    y = layer(Program(cfg), job, matrix, x, requant=requant, note="saturate both ways")
    assert (y == -128).any() and (y == 127).any() and ((y > -128) & (y < 127)).any(), y
    # The same through a real multiplier and shift: outputs at -129, -128, 127, 128 after
    # rounding, so that each clamp is exercised at its edge.
    shift = np.full(rows, 4)
    edge = np.array([[-129, -128, 127, 128, -130, 126, 0][i % 7] for i in range(rows)])
    bias = edge * 16 - peak                # (peak + bias) >> 4 == edge
    y = layer(Program(cfg), job, matrix, x, requant=(bias, np.ones(rows, dtype=np.int64), shift),
              note="at the clamps' edges")
    np.testing.assert_array_equal(y, np.clip(edge, -128, 127))
    # With ReLU the negative side goes to 0 (and 127 still saturates).
    layer(Program(cfg), job, matrix, x, relu=True, requant=requant, note="ReLU and saturation")
    await t.execute(job)


@tb.bench_test(SparseTB)
async def resident_layers(t, rng):
    """Several random layers resident at once, at random pointer, parameter and matrix bases
    (a filler layer of random size is loaded first and never run), then run in a random order,
    each twice, mostly requantized so that a parameter row read from the wrong base shows."""
    from tessera.golden.errors import TesseraError

    cfg = t.cfg
    p = tb.params()
    limit = min(cfg.max_acts, p.get("max_size", 24))
    checked_bases = 0
    for round_ in range(p.get("rounds", 2)):
        program = Program(cfg)
        job = Job()
        filler = random_matrix(rng, cfg, int(rng.integers(1, limit + 1)),
                               int(rng.integers(1, limit + 1)), 0.3)
        try:
            program.load(filler)
        except TesseraError:
            pass
        resident = []
        for _ in range(int(rng.integers(2, 5))):
            rows, cols = (int(s) for s in rng.integers(1, limit + 1, 2))
            matrix = random_matrix(rng, cfg, rows, cols, float(rng.choice([0.2, 0.5, 0.9])))
            x = random_activations(rng, cols, 0.8)
            requant = random_requant(rng, matrix, x)
            try:
                loaded = program.load(matrix, *requant)
            except TesseraError:
                continue
            resident.append((matrix, requant, loaded))
        assert len(resident) >= 1 or round_ > 0, "no layer fits beside the filler"
        order = [i for i in range(len(resident)) for _ in range(2)]
        rng.shuffle(order)
        for step, i in enumerate(order):
            matrix, requant, loaded = resident[i]
            checked_bases += loaded.ptr_base != loaded.param_base
            x = random_activations(rng, matrix.cols, 0.8)
            raw = bool(rng.random() < 0.2)
            program.activations(x, matrix.cols)
            run(program, job, loaded, matrix, x, relu=bool(rng.integers(2)), raw=raw,
                emit=True, requant=requant, cfg=cfg,
                note=f"round {round_}, step {step}: layer {i} of {len(resident)} at pointer "
                     f"base {loaded.ptr_base}, parameter base {loaded.param_base}, "
                     f"{matrix.rows}x{matrix.cols}")
        await t.execute(job)
    assert checked_bases > 0, "every layer had equal pointer and parameter bases"


# -- the registered broadcast (issue 12) --------------------------------------------------------

@tb.bench_test(SparseTB, salt=6)
async def almost_full_queue(t, rng):
    """One PE's queue fills while the others stay empty, and the broadcast waits exactly the
    modelled cycles: it sends only when every queue had room for two in the cycle before, and
    counts a stall on (only) the PE whose queue was almost full. PE 0 has ``r`` entries in
    every column and the others none, so PE 0 drains a pair every ``r`` cycles while the
    detector offers one a cycle (dense activations); then the same with every other column
    empty for PE 0 (the queue drains in bursts), and with every third activation zero (more
    gaps between groups, where the flags are a cycle older than the last broadcast). The
    shapes are fixed, so every seed exercises the rule; only the values are random."""
    cfg = t.cfg
    n = cfg.n_pes
    cols = min(cfg.max_acts, 24)
    job = Job()
    for r, pattern, gaps in ((6, "every column", False), (4, "even columns", False),
                             (6, "every column", True)):
        rows = min(cfg.max_acts, n * r)
        idx = np.zeros((rows, cols), dtype=np.int64)
        idx[::n, :] = 1 + rng.integers(0, 2**cfg.index_bits - 1, (len(range(0, rows, n)), cols))
        if pattern == "even columns":
            idx[:, 1::2] = 0
        book = np.concatenate([[0], 1 + np.arange(2**cfg.index_bits - 1)])
        matrix = encode(idx, book, n_pes=n, rel_bits=cfg.rel_bits, index_bits=cfg.index_bits)
        x = rng.choice(np.setdiff1d(np.arange(-128, 128), [0]), cols).astype(np.int8)
        if gaps:
            x[1::3] = 0
        model = matrix_cycles(matrix, x, fifo_depth=cfg.fifo_depth)
        # The case must exercise the rule: the broadcast waits on PE 0, never on another PE.
        assert model.stall[0] > 0, f"PE 0's queue never fills ({pattern}, r={r})"
        assert not model.stall[1:].any(), f"an empty PE stalls the broadcast: {model.stall}"
        layer(Program(cfg), job, matrix, x, raw=True,
              note=f"PE 0 alone busy, {r} entries in {pattern}, every third activation "
                   f"{'zero' if gaps else 'non-zero'}")
    await t.execute(job)
