"""tessera.golden.systolic: configuration, operand layouts, result order and the cycle model.

The cycle model is checked against the hardware, shape by shape, in tests/hw/test_systolic.py;
here it is checked against timelines derived by hand and against bounds any schedule obeys.
"""

import numpy as np
import pytest
from tessera.golden.config.systolic import SystolicConfig, min_acc_width
from tessera.golden.errors import TesseraError
from tessera.golden.gemm import gemm_int8
from tessera.golden.quant import requantize
from tessera.golden.systolic import (
    DRAIN_LATENCY,
    POSTPROC_LATENCY,
    expected_stream,
    gemm_cycles,
    pack_a,
    pack_b,
    result_lanes,
    result_order,
    unpack_results,
)


def test_postproc_latency_matches_the_hardware():
    from tessera.hw.postproc import PostProcessor

    assert POSTPROC_LATENCY == PostProcessor.LATENCY


@pytest.mark.parametrize(("kwargs", "exception", "message"), [
    ({"rows": 0}, TesseraError, "rows must be between 1 and 32, not 0"),
    ({"cols": 33}, TesseraError, "cols must be between 1 and 32, not 33"),
    ({"rows": 2.0}, TypeError, "rows must be an integer, not 2.0"),
    ({"dataflow": "is"}, TesseraError, "dataflow must be 'ws' or 'os', not 'is'"),
    ({"acc_width": 33}, TesseraError, "acc_width must be between 16 and 32, not 33"),
    ({"max_m": 0}, TesseraError, "max_m must be between 1 and 65535, not 0"),
    ({"max_k": 70000}, TesseraError, "max_k must be between 1 and 65535, not 70000"),
    ({"acc_width": 20, "max_k": 32}, TesseraError,
     "acc_width 20 is too narrow for max_k 32: 32 products of -128 \\* -128 need "
     "acc_width >= 21"),
    ({"acc_depth": 65}, TesseraError, "acc_depth must be between 1 and 64, not 65"),
    ({"dataflow": "os", "acc_depth": 8}, TesseraError,
     "acc_depth applies to the weight-stationary dataflow only .*"),
    ({"lanes": 0}, TesseraError, "lanes must be between 1 and 8, not 0"),
    ({"lanes": 9}, TesseraError, "lanes must be between 1 and 8, not 9"),
    ({"lanes": 3}, TesseraError, "lanes must divide cols \\(8\\), not 3"),
    ({"lanes": 2.0}, TypeError, "lanes must be an integer, not 2.0"),
])
def test_config_rejects(kwargs, exception, message):
    with pytest.raises(exception, match=f"^{message}$"):
        SystolicConfig(**kwargs)


def test_min_acc_width():
    # K products of 16384 fit iff K * 16384 <= 2**(w-1) - 1.
    for k in (1, 2, 31, 32, 1000, 131071):
        w = min_acc_width(k)
        assert k * 16384 <= 2 ** (w - 1) - 1 < 2 * k * 16384
    assert min_acc_width(31) == 20 and min_acc_width(32) == 21
    assert min_acc_width(131071) == 32 and min_acc_width(131072) == 33


def test_check_refuses_what_does_not_fit():
    cfg = SystolicConfig(max_m=10, max_k=20, max_n=30)
    cfg.check(10, 20, 30)
    with pytest.raises(TesseraError, match=r"^K = 21 is larger than this configuration's "
                                           r"max_k = 20: the GEMM does not fit"):
        cfg.check(1, 21, 1)
    with pytest.raises(TesseraError, match=r"^N must be at least 1, not 0$"):
        cfg.check(1, 1, 0)


def test_for_problem_rounds_up():
    cfg = SystolicConfig.for_problem(100, 3, 17, rows=4, cols=4)
    assert (cfg.max_m, cfg.max_k, cfg.max_n, cfg.acc_depth) == (128, 16, 32, 64)
    exact = SystolicConfig.for_problem(100, 3, 17, round_up=False, dataflow="os")
    assert (exact.max_m, exact.max_k, exact.max_n, exact.acc_depth) == (100, 3, 17, None)


CONFIGS = [SystolicConfig(rows=3, cols=5, max_m=20, max_k=20, max_n=20, acc_depth=7),
           SystolicConfig(rows=4, cols=2, dataflow="os", max_m=20, max_k=20, max_n=20)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["ws", "os"])
def test_pack_a_is_the_documented_layout(cfg):
    rng = np.random.default_rng(0)
    m, k = 17, 11
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    words = pack_a(a, cfg)
    assert words.shape == (cfg.a_words(m, k), cfg.rows)
    r, tm = cfg.rows, cfg.tile_m
    for i in range(m):
        for kk in range(k):
            if cfg.dataflow == "ws":
                mt, kt = i // tm, kk // r
                mm = min(tm, m - mt * tm)
                address = mt * tm * -(-k // r) + kt * mm + i - mt * tm
                assert words[address, kk % r] == a[i, kk]
            else:
                assert words[(i // r) * k + kk, i % r] == a[i, kk]
    assert words.astype(np.int64).__abs__().sum() == np.abs(a.astype(np.int64)).sum()


def test_pack_b():
    cfg = CONFIGS[0]
    b = np.arange(-40, 37).reshape(7, 11).astype(np.int8)
    words = pack_b(b, cfg)
    assert words.shape == (3 * 7, 5)
    for kk in range(7):
        for j in range(11):
            assert words[(j // 5) * 7 + kk, j % 5] == b[kk, j]
    # The words these lanes become: tests/sim/test_host.py.


@pytest.mark.parametrize("cfg", CONFIGS, ids=["ws", "os"])
def test_result_order_covers_every_result_once(cfg):
    rows, cols = result_order(13, 12, cfg)
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 13 * 12 == len(rows)
    # Group order: M-tile, then N-tile; rows, then columns within a group.
    assert (rows[0], cols[0]) == (0, 0) and (rows[1], cols[1]) == (0, 1)


def test_lanes_default_to_the_columns():
    assert SystolicConfig(rows=3, cols=5).lanes == 5
    assert SystolicConfig(rows=3, cols=6, lanes=2).q_rows == 32
    assert SystolicConfig.for_problem(9, 9, 9, cols=4, lanes=1).lanes == 1


@pytest.mark.parametrize(("cols", "lanes", "n", "row"), [
    (5, 5, 12, [5, 5, 2]),          # one word per row of a group, the last group 2 wide
    (4, 2, 11, [2, 2, 2, 2, 2, 1]), # two words per full row; the last group's row is 3 wide
    (4, 1, 6, [1] * 6),             # the 1-lane output path: one result a word
    (3, 3, 3, [3]),
])
def test_result_lanes_cut_rows_into_words(cols, lanes, n, row):
    cfg = SystolicConfig(rows=2, cols=cols, max_m=20, max_k=20, max_n=20, acc_depth=7,
                         lanes=lanes)
    got = result_lanes(9, n, cfg)
    # Groups: M-tiles of 7 and 2 rows, each across the N-tiles; ``row`` is the lane counts of
    # one row's words, N-tile after N-tile.
    expected = []
    for mm in (7, 2):
        at = 0
        for n0 in range(0, n, cols):
            cn = min(cols, n - n0)
            words = -(-cn // lanes)
            expected += row[at:at + words] * mm
            at += words
    assert got.tolist() == expected
    assert got.sum() == 9 * n and got.dtype == np.int64


@pytest.mark.parametrize("cfg", CONFIGS, ids=["ws", "os"])
def test_expected_stream_unpacks_to_the_golden_gemm(cfg):
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (9, 14)).astype(np.int8)
    b = rng.integers(-128, 128, (14, 8)).astype(np.int8)
    raw = unpack_results(expected_stream(a, b, cfg, raw=True), 9, 8, cfg)
    np.testing.assert_array_equal(raw, gemm_int8(a, b), strict=True)
    bias, mult, shift = rng.integers(-999, 999, 8), rng.integers(1, 2 ** 16, 8), np.full(8, 15)
    q = expected_stream(a, b, cfg, bias=bias, multiplier=mult, shift=shift, relu=True)
    np.testing.assert_array_equal(unpack_results(q, 9, 8, cfg, dtype=np.int8),
                                  requantize(gemm_int8(a, b), bias, mult, shift, relu=True),
                                  strict=True)


@pytest.mark.parametrize(("r", "c", "m", "k", "n"), [
    (1, 1, 1, 1, 1), (1, 1, 5, 1, 1), (2, 3, 3, 2, 1), (2, 3, 8, 1, 3), (8, 8, 1, 8, 8),
    (8, 8, 5, 3, 2), (16, 4, 3, 2, 1), (16, 4, 8, 16, 4)])
def test_single_pass_ws_timeline(r, c, m, k, n):
    """One pass (M <= tile, K <= R, N <= C), derived by hand from the schedule's rules."""
    cfg = SystolicConfig(rows=r, cols=c, max_m=8, max_k=16, max_n=8)
    load = k + 1                        # the K rows of B have arrived
    first_row = load + r                # R cycles of weight shifting
    # 2 into the array, R + C through it, 2 more for the PE's four-stage pipeline (operands,
    # multiplier, product, sum: PE_LATENCY = 4, two stages more than a PE with the product
    # register only), 3 in the bank. The pass is the group's last K-tile: the drain reads
    # each row from the edge after its final sum is written, one row behind the writes.
    written = first_row + r + c + 5     # the first row's final sum
    last_read = written + m             # the drain reads a row a cycle from the next edge
    assert gemm_cycles(cfg, m, k, n, raw=True).cycles == last_read + DRAIN_LATENCY
    # With one lane, one result a cycle: m * n reads.
    narrow = SystolicConfig(rows=r, cols=c, max_m=8, max_k=16, max_n=8, lanes=1)
    assert gemm_cycles(narrow, m, k, n, raw=True).cycles == written + m * n + DRAIN_LATENCY


@pytest.mark.parametrize(("r", "c"), [(1, 1), (3, 5), (8, 8)])
def test_single_tile_os_timeline(r, c):
    """One OS tile: K steps from edge 2, a flush 2R after the start, the capture wave and R
    shifts, then the drain."""
    cfg = SystolicConfig(rows=r, cols=c, dataflow="os", max_m=8, max_k=40, max_n=8)
    for k in (1, 2 * r - 1, 2 * r + 3, 40):
        m, n = min(r, 3), min(c, 2)
        start = 2                               # the first words can be read at edge 2
        flush = max(start + k, start + 2 * r)
        written = flush + 2 * r + c + 3         # the capture waits for the PE's 4 stages
        expected = written + m + DRAIN_LATENCY  # one row (one word) a cycle
        assert gemm_cycles(cfg, m, k, n, raw=True).cycles == expected, k


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_bounds_every_schedule_obeys(dataflow):
    rng = np.random.default_rng(2)
    for _ in range(60):
        r, c = (int(x) for x in rng.integers(1, 17, 2))
        m, k, n = (int(x) for x in rng.integers(1, 200, 3))
        cfg = SystolicConfig.for_problem(m, k, n, rows=r, cols=c, dataflow=dataflow)
        t = gemm_cycles(cfg, m, k, n)
        words = result_lanes(m, n, cfg).size
        assert words == m * -(-n // c)                      # a row of C a word
        assert t.cycles >= words + DRAIN_LATENCY            # one word per cycle
        assert t.cycles * r * c >= m * k * n                # no more than R*C MACs per cycle
        assert t.cycles >= t.compute_cycles
        assert 0 < t.utilization <= 1
        assert t.macs == m * k * n
        raw = gemm_cycles(cfg, m, k, n, raw=True)
        assert raw.cycles <= t.cycles                       # no parameters to wait for
        narrow = SystolicConfig.for_problem(m, k, n, rows=r, cols=c, dataflow=dataflow,
                                            lanes=1)
        one = gemm_cycles(narrow, m, k, n)
        assert one.cycles >= m * n + DRAIN_LATENCY          # one result per cycle
        assert one.cycles >= t.cycles                       # more lanes never cost cycles


def test_weight_loads_are_hidden():
    """With M-tiles of at least 2R rows a WS pass costs its rows: no weight stall, no shift."""
    cfg = SystolicConfig(rows=16, cols=16, max_m=256, max_k=256, max_n=256, acc_depth=64)
    t = gemm_cycles(cfg, 256, 256, 256)
    assert t.passes == 4 * 16 * 16
    # Every pass issues 64 rows; between groups the feeder may wait for a bank half.
    assert t.compute_cycles < t.passes * 64 * 1.04
    assert t.utilization >= 0.9


def test_os_tiles_are_back_to_back_when_k_is_long():
    cfg = SystolicConfig(rows=8, cols=8, dataflow="os", max_m=64, max_k=512, max_n=64)
    t = gemm_cycles(cfg, 64, 512, 64)
    assert t.compute_cycles == 1 + 64 * 512             # the first step at edge 2
