"""Golden model of the systolic GEMM engine (:mod:`tessera.hw.systolic`): geometry, layouts and
cycles.

The engine computes ``C = A @ B`` for int8 ``A`` (M x K) and ``B`` (K x N) on an R x C array of
MAC PEs, with int32 accumulation and the shared post-processing
(:func:`tessera.golden.quant.requantize`),
or the raw accumulators. This module is the host's half of the contract and the definition the
hardware is tested against:

- the parameters (array size, dataflow, accumulator width, the largest GEMM the buffers hold)
  are :class:`tessera.golden.config.SystolicConfig`, whose ``check`` refuses a GEMM that does
  not fit, before anything is simulated;
- :func:`pack_a`, :func:`pack_b`: the operands of the ``a`` and ``b`` streams as int8 lanes,
  one per array row (``a``) or column (``b``), in the order the engine consumes them (the host
  encoder, :mod:`tessera.sim.host.systolic`, turns them into words);
- :func:`result_order`, :func:`result_lanes`, :func:`unpack_results`, :func:`expected_stream`:
  the order of the results, how many each word of the result stream carries, and the results
  themselves.
- :func:`gemm_cycles`: the exact cycle count of one GEMM, event by event, as the sequencer
  schedules it (see "Cycle model" below).

Tiling
------
Weight-stationary (``"ws"``, the TPU's dataflow): B is cut into K-tiles of R rows and N-tiles of
C columns; each (K-tile, N-tile) weight tile is shifted into the array's shadow registers while
the previous tile computes, then ``Mm`` rows of A stream through it (a *pass*). M is cut into
M-tiles of ``tile_m`` rows (the accumulator bank's depth); the passes of one (M-tile, N-tile)
*group* accumulate over K in one half of the double-buffered accumulator bank while the other
half drains through the post-processor. Loops: M-tile, then N-tile, then K-tile.

Output-stationary (``"os"``, Eyeriss' and Gemmini's other choice): every PE keeps one output.
A *tile* is R x C outputs; K steps of A columns (from the left) and B rows (from the top) stream
through it, then its results are captured and shifted out of the bottom while the next tile
computes. Loops: M-tile (R rows), then N-tile.

Results leave in group order (M-tile, then N-tile), row by row, columns of the N-tile in order:
see :func:`result_order`. The result stream carries ``L = lanes`` of them a word
(:attr:`SystolicConfig.lanes`, by default C): a row of a group of ``Cn`` columns is
``ceil(Cn / L)`` words, every one full but the row's last (``Cn - (words - 1) * L`` lanes, at
the right edge of N); a word never spans two rows (:func:`result_lanes`).

Cycle model
-----------
Edges are numbered from the command's transfer (edge 0); operand words arrive one per cycle from
edge 1 (every stream always valid, the result stream always ready). A word ``x`` of a buffer can
be read at edge ``x + 2`` at the earliest. With ``R`` rows, ``C`` columns:

Weight-stationary, pass ``p`` (M-tile ``mt`` with ``Mm`` rows, N-tile ``nt``, K-tile ``kt``):

- the weight load starts at ``L_p = max(S_{p-1} + R, need_b + 1)`` and takes R cycles, where
  ``need_b = nt*K + min(K, kt*R + R)`` words of B must have arrived; ``S_{p-1} + R`` is when the
  previous tile's weight swap has swept every row, freeing the shadow registers;
- its first row issues at ``S_p = max(L_p + R, F_{p-1} + 1, bank_free, a_base + 2)`` and its
  rows follow one per cycle (``F_p = S_p + Mm - 1``); ``bank_free`` is the release of the
  accumulator half by the drain of group ``g - 2`` plus one (first pass of a group only);
- a row issued at ``F`` is written to the accumulator bank at ``F + R + C + P + 1``, where
  ``P = 4`` is the PE's pipeline (:data:`tessera.golden.mac.PE_LATENCY`: operand registers,
  two multiplier stages, the adder); the group's last pass (its last K-tile) writes its first
  row's final sum at ``W_g = S + R + C + P + 1`` and one more row a cycle after it;
- the drain of group ``g`` starts at ``D_g = max(W_g + 1, D_{g-1}' + 1, N + 2)`` (it reads a
  row from the edge after its final sum is written, and reads one row in a cycle or more, so
  it never catches up with the writes), where
  ``D_{g-1}'`` is the previous drain's last read and ``N + 2`` is when the drain has seen all N
  words of requantization parameters arrive (no such wait in raw mode); it reads one word of
  ``L`` results a cycle, ``Mm * ceil(Cn / L)`` of them (one bank row a cycle when ``L = C``);
- the last word is transferred ``4 + P'`` cycles after the last read, where ``P' = 6`` is the
  post-processors' latency (``L`` of them in lockstep): ``cycles = D' + 10``.

Output-stationary, tile ``t``: its first step issues at ``S_t = max(F_{t-1} + 1, S_{t-1} + 2R,
bank_free, a_base + 2, b_base + 2)`` and K steps follow one per cycle; starting tile ``t + 1``
(or the final flush) captures tile ``t``'s results, which are written by ``W_t = S_{t+1} + 2R +
C + P - 1``; the drain is as above with ``Mm = min(R, M - m0)``.

In the steady state a weight-stationary pass costs ``max(Mm, 2R)`` cycles and an
output-stationary tile ``max(K, 2R)``; the output path emits one word of ``L`` results per
cycle, so a GEMM also needs at least ``M * ceil(N / C) * ceil(C / L)`` cycles (``M * N`` with
one lane; ``M * ceil(N / C)``, one bank row a cycle, with ``C``). Gaps on the operand streams or
back-pressure on the results only add cycles.
"""

from dataclasses import dataclass

import numpy as np

from .config.systolic import ceil_div
from .errors import TesseraError, check_int_array
from .mac import PE_LATENCY

__all__ = [
    "GemmTiming",
    "expected_stream",
    "gemm_cycles",
    "pack_a",
    "pack_b",
    "result_lanes",
    "result_order",
    "unpack_results",
]

# Layouts ----------------------------------------------------------------------------------


def _int8_matrix(x, name):
    return check_int_array(x, name, low=-128, high=127, ndim=2).astype(np.int8)


def _pad(x, rows, cols):
    out = np.zeros((rows, cols), dtype=np.int8)
    out[:x.shape[0], :x.shape[1]] = x
    return out


def pack_a(a, config):
    """Return the words of the ``a`` stream for the M x K operand ``a``, shape (words, rows).

    Lane ``i`` of a word is one int8 value for array row ``i``:

    - weight-stationary: ``A[m, kt*R + i]``; words run over M-tiles, then K-tiles, then the
      rows ``m`` of the M-tile (address ``mt*tile_m*KT + kt*Mm + m - m0``);
    - output-stationary: ``A[mt*R + i, k]``; words run over M-tiles, then ``k``.

    Lanes past K (or past M) are zero.
    """
    a = _int8_matrix(a, "A")
    m, k = a.shape
    r = config.rows
    if config.dataflow == "ws":
        kt = ceil_div(k, r)
        padded = _pad(a, m, kt * r).reshape(m, kt, r)
        blocks = []
        for m0 in range(0, m, config.tile_m):
            block = padded[m0:m0 + config.tile_m]           # (Mm, KT, R)
            blocks.append(block.transpose(1, 0, 2).reshape(-1, r))
        return np.concatenate(blocks)
    mt = ceil_div(m, r)
    padded = _pad(a, mt * r, k).reshape(mt, r, k)
    return padded.transpose(0, 2, 1).reshape(-1, r)


def pack_b(b, config):
    """Return the words of the ``b`` stream for the K x N operand ``b``, shape (words, cols).

    Lane ``j`` of a word is ``B[k, nt*C + j]``; words run over N-tiles, then ``k`` (address
    ``nt*K + k``). Lanes past N are zero. Both dataflows use this layout.
    """
    b = _int8_matrix(b, "B")
    k, n = b.shape
    c = config.cols
    nt = ceil_div(n, c)
    return _pad(b, k, nt * c).reshape(k, nt, c).transpose(1, 0, 2).reshape(-1, c)


def result_order(m, n, config):
    """Return (rows, cols): the (m, n) index of each element of the result stream, in order."""
    rows, cols = [], []
    tm, c = config.tile_m, config.cols
    for m0 in range(0, m, tm):
        mm = min(tm, m - m0)
        for n0 in range(0, n, c):
            cn = min(c, n - n0)
            rr, cc = np.meshgrid(np.arange(m0, m0 + mm), np.arange(n0, n0 + cn), indexing="ij")
            rows.append(rr.ravel())
            cols.append(cc.ravel())
    return np.concatenate(rows), np.concatenate(cols)


def _words_per_row(cn, lanes):
    return ceil_div(cn, lanes)


def result_lanes(m, n, config):
    """Return the number of results each word of the result stream carries, in order (int64).

    Words follow :func:`result_order`: ``config.lanes`` consecutive results of one row of a
    group a word, the row's last word holding the rest (1..lanes); their sum is ``m * n``.
    """
    tm, c, lanes = config.tile_m, config.cols, config.lanes
    out = []
    for m0 in range(0, m, tm):
        mm = min(tm, m - m0)
        for n0 in range(0, n, c):
            cn = min(c, n - n0)
            words = _words_per_row(cn, lanes)
            out.extend(([lanes] * (words - 1) + [cn - (words - 1) * lanes]) * mm)
    return np.asarray(out, dtype=np.int64)


def unpack_results(stream, m, n, config, dtype=np.int32):
    """Reassemble the result stream (``m * n`` values in stream order) into an (m, n) array."""
    stream = np.asarray(stream)
    if stream.shape != (m * n,):
        raise TesseraError(f"expected {m * n} results, got {stream.size}")
    out = np.empty((m, n), dtype=dtype)
    rows, cols = result_order(m, n, config)
    out[rows, cols] = stream
    return out


def expected_stream(a, b, config, *, bias=None, multiplier=None, shift=None, relu=False,
                    raw=False):
    """Return the values the result stream must carry, in stream order (int64).

    ``raw``: the int32 accumulators of ``a @ b``. Otherwise
    ``requantize(a @ b, bias, multiplier, shift, relu)`` with per-column parameters.
    """
    from .gemm import gemm_int8
    from .quant import requantize

    acc = gemm_int8(a, b)
    if not raw:
        acc = requantize(acc, bias, multiplier, shift, relu=relu)
    rows, cols = result_order(*acc.shape, config)
    return acc[rows, cols].astype(np.int64)


# Cycle model ------------------------------------------------------------------------------

#: A WS row issued at edge F is written to the last column of the accumulator bank at edge
#: F + R + C + WS_WRITE_OFFSET: 2 cycles to the array, R + C through it of which the last PE
#: adds PE_LATENCY - 1 (its operand and multiplier stages), 2 in the bank.
WS_WRITE_OFFSET = PE_LATENCY + 1
#: The OS tile captured by the start of the next tile at edge S has its last result written to
#: the bank at edge S + 2R + C + OS_WRITE_OFFSET (the capture wave, which waits PE_LATENCY - 1
#: cycles for the PE's pipeline, then R shifts out of each column).
OS_WRITE_OFFSET = PE_LATENCY - 1
#: Pipeline stages of the shared post-processor (``tessera.hw.postproc.PostProcessor.LATENCY``; the
#: tests check that the two agree). The engine's lanes run one each, in lockstep.
POSTPROC_LATENCY = 7
#: Cycles from the drain's last read to the last word's transfer on the output stream: the
#: read, the drain's row register, its output queue (two cycles), the post-processors, the
#: transfer.
DRAIN_LATENCY = POSTPROC_LATENCY + 4


@dataclass(frozen=True)
class GemmTiming:
    """The golden cycle count of one GEMM.

    Attributes
    ----------
    cycles : int
        Clock cycles from the command's transfer to the last result's transfer (what the
        hardware's cycle counter reads).
    macs : int
        Useful multiply-accumulates, ``M * K * N``.
    utilization : float
        ``macs / (R * C * cycles)``.
    passes : int
        Weight tiles (WS) or output tiles (OS) the GEMM took.
    compute_cycles : int
        Edge of the last operand issue into the array (the compute part of ``cycles``).
    """

    cycles: int
    macs: int
    utilization: float
    passes: int
    compute_cycles: int


def _drain(state, w_edge, mm, cn, n, raw):
    start = max(w_edge + 1, state["last_read"] + 1)
    if not raw:
        start = max(start, n + 2)
    state["last_read"] = start + mm * _words_per_row(cn, state["lanes"]) - 1
    return state["last_read"]


def _ws_cycles(cfg, m, k, n, raw):
    r, c, tm = cfg.rows, cfg.cols, cfg.tile_m
    state = {"last_read": 0, "lanes": cfg.lanes}
    released = []                      # the drain's last read of each group
    prev_start = None                  # S of the previous pass
    prev_last = 0                      # F of the previous pass
    passes = 0
    a_group = 0
    group = 0
    for m0 in range(0, m, tm):
        mm = min(tm, m - m0)
        for n0 in range(0, n, c):
            cn = min(c, n - n0)
            nbase = (n0 // c) * k
            for kt, k0 in enumerate(range(0, k, r)):
                load = max(1 if prev_start is None else prev_start + r,
                           nbase + min(k, k0 + r) + 1)
                start = max(load + r, prev_last + 1, a_group + kt * mm + 2)
                if kt == 0 and group >= 2:
                    start = max(start, released[group - 2] + 1)
                prev_start, prev_last = start, start + mm - 1
                passes += 1
            # The drain reads the group's rows as its last K-tile writes them (one a cycle, so
            # the drain, one word or more a row, never catches up): from its first row's write.
            written = prev_start + r + c + WS_WRITE_OFFSET
            released.append(_drain(state, written, mm, cn, n, raw))
            group += 1
        a_group += ceil_div(k, r) * mm
    return state["last_read"] + DRAIN_LATENCY, passes, prev_last


def _os_cycles(cfg, m, k, n, raw):
    r, c = cfg.rows, cfg.cols
    state = {"last_read": 0, "lanes": cfg.lanes}
    released = []                      # the drain's last read of each tile
    tiles = [(m0, n0) for m0 in range(0, m, r) for n0 in range(0, n, c)]
    prev_start, prev_last = None, 0
    for t in range(len(tiles) + 1):    # every tile, then the flush that captures the last one
        start = prev_last + 1
        if prev_start is not None:
            start = max(start, prev_start + 2 * r)
        if t >= 3:
            start = max(start, released[t - 3] + 1)
        if t < len(tiles):
            m0, n0 = tiles[t]
            start = max(start, (m0 // r) * k + 2, (n0 // c) * k + 2)
        if t >= 1:
            pm0, pn0 = tiles[t - 1]
            written = start + 2 * r + c + OS_WRITE_OFFSET
            released.append(_drain(state, written, min(r, m - pm0), min(c, n - pn0), n, raw))
        prev_start = start
        if t < len(tiles):
            prev_last = start + k - 1
    return state["last_read"] + DRAIN_LATENCY, len(tiles), prev_last


def gemm_cycles(config, m, k, n, *, raw=False):
    """Return the :class:`GemmTiming` of an M x K x N GEMM on ``config``.

    The hardware's cycle counter must read exactly ``cycles`` when every operand stream is
    always valid and the result stream always ready (see the module docstring for the rules).
    ``raw`` GEMMs send no requantization parameters, which can only make them faster.
    """
    config.check(m, k, n)
    run = _ws_cycles if config.dataflow == "ws" else _os_cycles
    cycles, passes, compute = run(config, int(m), int(k), int(n), raw)
    macs = int(m) * int(k) * int(n)
    return GemmTiming(cycles=cycles, macs=macs, utilization=macs / (config.macs * cycles),
                      passes=passes, compute_cycles=compute)
