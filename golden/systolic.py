"""Golden model of the systolic GEMM engine (:mod:`tessera.hw.systolic`): geometry, layouts and
cycles.

The engine computes ``C = A @ B`` for int8 ``A`` (M x K) and ``B`` (K x N) on an R x C array of
MAC PEs, with int32 accumulation and the shared post-processing
(:func:`tessera.golden.quant.requantize`),
or the raw accumulators. This module is the host's half of the contract and the definition the
hardware is tested against:

- :class:`SystolicConfig`: the parameters (array size, dataflow, accumulator width, the largest
  GEMM the buffers hold) and their validation; :meth:`SystolicConfig.check` refuses a GEMM that
  does not fit, before anything is simulated.
- :func:`pack_a`, :func:`pack_b`: the operand words of the ``a`` and ``b`` streams, one int8 lane
  per array row (``a``) or column (``b``), in the order the engine consumes them.
- :func:`result_order`, :func:`unpack_results`, :func:`expected_stream`: the order of the result
  stream and the results themselves.
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
see :func:`result_order`.

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
- the group's last row is written to the accumulator bank at ``W_g = F + R + C + 3``;
- the drain of group ``g`` starts at ``D_g = max(W_g + 1, D_{g-1}' + 1, N + 2)``, where
  ``D_{g-1}'`` is the previous drain's last read and ``N + 2`` is when the drain has seen all N
  words of requantization parameters arrive (no such wait in raw mode); it reads one result a
  cycle, ``Mm * Cn`` of them;
- the last result is transferred ``4 + L`` cycles after the last read, where ``L = 6`` is the
  post-processor's latency: ``cycles = D' + 10``.

Output-stationary, tile ``t``: its first step issues at ``S_t = max(F_{t-1} + 1, S_{t-1} + 2R,
bank_free, a_base + 2, b_base + 2)`` and K steps follow one per cycle; starting tile ``t + 1``
(or the final flush) captures tile ``t``'s results, which are written by ``W_t = S_{t+1} + 2R +
C + 1``; the drain is as above with ``Mm = min(R, M - m0)``.

In the steady state a weight-stationary pass costs ``max(Mm, 2R)`` cycles and an
output-stationary tile ``max(K, 2R)``; the post-processor emits one result per cycle, so a GEMM
also needs at least ``M * N`` cycles. Gaps on the operand streams or back-pressure on the results
only add cycles.
"""

from dataclasses import dataclass

import numpy as np

from .errors import TesseraError, check_int, check_int_array

__all__ = [
    "DATAFLOWS",
    "GemmTiming",
    "SystolicConfig",
    "expected_stream",
    "gemm_cycles",
    "min_acc_width",
    "pack_a",
    "pack_b",
    "pack_lanes",
    "result_order",
    "unpack_results",
]

DATAFLOWS = ("ws", "os")
#: The largest product magnitude of two int8 values: -128 * -128.
MAX_PRODUCT = 128 * 128
#: Array sides and GEMM dimensions the engine supports.
MAX_SIDE = 32
MAX_DIM = 65535
#: Default depth (rows) of each half of the weight-stationary accumulator bank.
DEFAULT_ACC_DEPTH = 64


def _ceil_div(a, b):
    return -(-a // b)


def min_acc_width(k):
    """Return the narrowest accumulator that holds any sum of ``k`` int8 products.

    The largest magnitude is ``k * 16384`` (every product -128 * -128); it must fit a signed
    ``acc_width``-bit register: ``k * 16384 <= 2**(acc_width - 1) - 1``.
    """
    return (k * MAX_PRODUCT).bit_length() + 1


@dataclass(frozen=True)
class SystolicConfig:
    """Parameters of the systolic GEMM engine, validated on construction.

    Parameters
    ----------
    rows, cols : int
        Array size R x C, 1..32 each (default 8 x 8).
    dataflow : {"ws", "os"}
        Weight-stationary or output-stationary.
    acc_width : int
        Accumulator width in bits, 16..32 (default 32); must hold ``max_k`` products of
        -128 * -128 (:func:`min_acc_width`).
    max_m, max_k, max_n : int
        The largest GEMM the on-chip buffers hold, 1..65535 each (default 64).
    acc_depth : int or None
        Weight-stationary only: rows of A per M-tile, i.e. the depth of each half of the
        accumulator bank, 1..max_m. Default ``min(max_m, 64)``. Must be None for "os", whose
        bank holds one R x C tile per half.

    Raises
    ------
    TypeError
        If a parameter is not an integer (or, for ``dataflow``, not a string).
    TesseraError
        If a parameter is out of range, or ``acc_width`` is too narrow for ``max_k``.
    """

    rows: int = 8
    cols: int = 8
    dataflow: str = "ws"
    acc_width: int = 32
    max_m: int = 64
    max_k: int = 64
    max_n: int = 64
    acc_depth: int | None = None

    def __post_init__(self):
        check_int(self.rows, "rows", 1, MAX_SIDE)
        check_int(self.cols, "cols", 1, MAX_SIDE)
        if self.dataflow not in DATAFLOWS:
            raise TesseraError(f"dataflow must be 'ws' or 'os', not {self.dataflow!r}")
        check_int(self.acc_width, "acc_width", 16, 32)
        for name in ("max_m", "max_k", "max_n"):
            check_int(getattr(self, name), name, 1, MAX_DIM)
        need = min_acc_width(self.max_k)
        if self.acc_width < need:
            raise TesseraError(
                f"acc_width {self.acc_width} is too narrow for max_k {self.max_k}: "
                f"{self.max_k} products of -128 * -128 need acc_width >= {need}")
        if self.dataflow == "os":
            if self.acc_depth is not None:
                raise TesseraError("acc_depth applies to the weight-stationary dataflow only "
                                   "(the output-stationary bank holds one tile)")
        elif self.acc_depth is None:
            object.__setattr__(self, "acc_depth", min(self.max_m, DEFAULT_ACC_DEPTH))
        else:
            check_int(self.acc_depth, "acc_depth", 1, self.max_m)

    @classmethod
    def for_problem(cls, m, k, n, *, rows=8, cols=8, dataflow="ws", acc_width=32,
                    acc_depth=None, round_up=True):
        """Return a configuration whose buffers hold an M x K x N GEMM.

        With ``round_up`` the limits are rounded up to powers of two (at least 16), so that
        similar problems share one hardware build; ``max_k`` is never rounded past what
        ``acc_width`` holds.
        """
        def size(x):
            return max(16, 1 << (int(x) - 1).bit_length()) if round_up else int(x)

        limits = [min(size(x), MAX_DIM) if 1 <= x <= MAX_DIM else x for x in (m, k, n)]
        k_fits = (2 ** (acc_width - 1) - 1) // MAX_PRODUCT if isinstance(acc_width, int) else 0
        if 1 <= k <= MAX_DIM:
            limits[1] = min(limits[1], k_fits) if k <= k_fits else k
        if acc_depth is None and dataflow == "ws":
            acc_depth = min(limits[0], DEFAULT_ACC_DEPTH)
        return cls(rows=rows, cols=cols, dataflow=dataflow, acc_width=acc_width,
                   max_m=limits[0], max_k=limits[1], max_n=limits[2], acc_depth=acc_depth)

    # Geometry -----------------------------------------------------------------------------

    @property
    def tile_m(self):
        """Rows of C per group: the M-tile (WS, ``acc_depth``) or the array's rows (OS)."""
        return self.acc_depth if self.dataflow == "ws" else self.rows

    @property
    def a_depth(self):
        """Words of the A buffer (each ``rows`` int8 lanes)."""
        if self.dataflow == "ws":
            return _ceil_div(self.max_k, self.rows) * self.max_m
        return _ceil_div(self.max_m, self.rows) * self.max_k

    @property
    def b_depth(self):
        """Words of the B buffer (each ``cols`` int8 lanes)."""
        return _ceil_div(self.max_n, self.cols) * self.max_k

    @property
    def q_depth(self):
        """Entries of the requantization-parameter buffer (one per output column)."""
        return self.max_n

    @property
    def macs(self):
        """Number of MAC PEs (R * C)."""
        return self.rows * self.cols

    def a_words(self, m, k):
        """Words of the ``a`` stream for an M x K operand."""
        if self.dataflow == "ws":
            return _ceil_div(k, self.rows) * m
        return _ceil_div(m, self.rows) * k

    def b_words(self, k, n):
        """Words of the ``b`` stream for a K x N operand."""
        return _ceil_div(n, self.cols) * k

    def check(self, m, k, n):
        """Raise :class:`TesseraError` unless an M x K x N GEMM fits this configuration."""
        for name, value, limit in (("M", m, self.max_m), ("K", k, self.max_k),
                                   ("N", n, self.max_n)):
            check_int(value, name, 1, None)
            if value > limit:
                raise TesseraError(
                    f"{name} = {value} is larger than this configuration's max_{name.lower()} "
                    f"= {limit}: the GEMM does not fit the on-chip buffers")

    def to_dict(self):
        """The parameters as a plain dict (JSON, and keyword arguments of the hardware)."""
        return {"rows": self.rows, "cols": self.cols, "dataflow": self.dataflow,
                "acc_width": self.acc_width, "max_m": self.max_m, "max_k": self.max_k,
                "max_n": self.max_n, "acc_depth": self.acc_depth}


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
        kt = _ceil_div(k, r)
        padded = _pad(a, m, kt * r).reshape(m, kt, r)
        blocks = []
        for m0 in range(0, m, config.tile_m):
            block = padded[m0:m0 + config.tile_m]           # (Mm, KT, R)
            blocks.append(block.transpose(1, 0, 2).reshape(-1, r))
        return np.concatenate(blocks)
    mt = _ceil_div(m, r)
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
    nt = _ceil_div(n, c)
    return _pad(b, k, nt * c).reshape(k, nt, c).transpose(1, 0, 2).reshape(-1, c)


def pack_lanes(words):
    """Turn int8 lane arrays (words, lanes) into Python ints, lane 0 in the low byte."""
    words = np.ascontiguousarray(np.asarray(words, dtype=np.int8)).view(np.uint8)
    return [int.from_bytes(row.tobytes(), "little") for row in words]


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
#: F + R + C + WS_WRITE_OFFSET (2 cycles to the array, R + C through it, 3 in the bank).
WS_WRITE_OFFSET = 3
#: The OS tile captured by the start of the next tile at edge S has its last result written to
#: the bank at edge S + 2R + C + OS_WRITE_OFFSET (capture wave, then R shifts out of each column).
OS_WRITE_OFFSET = 1
#: Pipeline stages of the shared post-processor (``tessera.hw.postproc.PostProcessor.LATENCY``; the
#: tests check that the two agree).
POSTPROC_LATENCY = 6
#: Cycles from the drain's last read to the last result's transfer on the output stream: the
#: read, the drain's row register, its output queue (two cycles), the post-processor, the
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
    state["last_read"] = start + mm * cn - 1
    return state["last_read"]


def _ws_cycles(cfg, m, k, n, raw):
    r, c, tm = cfg.rows, cfg.cols, cfg.tile_m
    state = {"last_read": 0}
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
            written = prev_last + r + c + WS_WRITE_OFFSET
            released.append(_drain(state, written, mm, cn, n, raw))
            group += 1
        a_group += _ceil_div(k, r) * mm
    return state["last_read"] + DRAIN_LATENCY, passes, prev_last


def _os_cycles(cfg, m, k, n, raw):
    r, c = cfg.rows, cfg.cols
    state = {"last_read": 0}
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
