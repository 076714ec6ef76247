"""The parameters of the systolic GEMM engine (:mod:`tessera.hw.systolic`), validated once.

Pure Python, no Amaranth: the hardware (:class:`tessera.hw.systolic.SystolicGemm`), the golden
cycle model (:func:`tessera.golden.systolic.gemm_cycles`) and the host encoder
(:mod:`tessera.sim.host.systolic`) all read the same :class:`SystolicConfig`.
"""

from dataclasses import dataclass, fields

from ..errors import TesseraError, check_int

__all__ = ["DATAFLOWS", "MAX_DIM", "MAX_PRODUCT", "MAX_SIDE", "SystolicConfig", "min_acc_width"]

DATAFLOWS = ("ws", "os")
#: The largest product magnitude of two int8 values: -128 * -128.
MAX_PRODUCT = 128 * 128
#: Array sides and GEMM dimensions the engine supports.
MAX_SIDE = 32
MAX_DIM = 65535
#: Default depth (rows) of each half of the weight-stationary accumulator bank.
DEFAULT_ACC_DEPTH = 64


def ceil_div(a, b):
    """Return ``ceil(a / b)`` for positive integers."""
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
    lanes : int or None
        Results per word of the output path: the drain reads a bank row and post-processes
        ``lanes`` results a cycle. A divisor of ``cols``; default ``cols`` (a whole row of the
        array a cycle, as a conventional array drains). 1 is the narrow output path of a small
        system (one post-processor).

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
    lanes: int | None = None

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
        if self.lanes is None:
            object.__setattr__(self, "lanes", self.cols)
        else:
            check_int(self.lanes, "lanes", 1, self.cols)
            if self.cols % self.lanes:
                raise TesseraError(f"lanes must divide cols ({self.cols}), not {self.lanes}")

    @classmethod
    def for_problem(cls, m, k, n, *, rows=8, cols=8, dataflow="ws", acc_width=32,
                    acc_depth=None, lanes=None, round_up=True):
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
                   max_m=limits[0], max_k=limits[1], max_n=limits[2], acc_depth=acc_depth,
                   lanes=lanes)

    # Geometry -----------------------------------------------------------------------------

    @property
    def tile_m(self):
        """Rows of C per group: the M-tile (WS, ``acc_depth``) or the array's rows (OS)."""
        return self.acc_depth if self.dataflow == "ws" else self.rows

    @property
    def a_depth(self):
        """Words of the A buffer (each ``rows`` int8 lanes)."""
        if self.dataflow == "ws":
            return ceil_div(self.max_k, self.rows) * self.max_m
        return ceil_div(self.max_m, self.rows) * self.max_k

    @property
    def b_depth(self):
        """Words of the B buffer (each ``cols`` int8 lanes)."""
        return ceil_div(self.max_n, self.cols) * self.max_k

    @property
    def q_depth(self):
        """Entries of the requantization-parameter buffer (one per output column)."""
        return self.max_n

    @property
    def q_rows(self):
        """Rows of the requantization-parameter buffer, ``lanes`` columns' parameters each."""
        return ceil_div(self.max_n, self.lanes)

    @property
    def macs(self):
        """Number of MAC PEs (R * C)."""
        return self.rows * self.cols

    def a_words(self, m, k):
        """Words of the ``a`` stream for an M x K operand."""
        if self.dataflow == "ws":
            return ceil_div(k, self.rows) * m
        return ceil_div(m, self.rows) * k

    def b_words(self, k, n):
        """Words of the ``b`` stream for a K x N operand."""
        return ceil_div(n, self.cols) * k

    def check(self, m, k, n):
        """Raise :class:`TesseraError` unless an M x K x N GEMM fits this configuration."""
        for name, value, limit in (("M", m, self.max_m), ("K", k, self.max_k),
                                   ("N", n, self.max_n)):
            check_int(value, name, 1, None)
            if value > limit:
                raise TesseraError(
                    f"{name} = {value} is larger than this configuration's max_{name.lower()} "
                    f"= {limit}: the GEMM does not fit the on-chip buffers")

    def params(self):
        """Return the parameters as a dict (JSON, and keyword arguments of the hardware)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}
