"""Parameters of the tessera system: both engines, the memories and their word widths."""

from dataclasses import dataclass, field

# Re-exported: the system's code and tests take the engine configurations from here only.
from .config.sparse import SparseConfig
from .config.systolic import SystolicConfig
from .errors import TesseraError, check_int
from .isa import FIELD_BITS, Op, Space

__all__ = ["RUN_SYSTOLIC", "SparseConfig", "SystemConfig", "SystolicConfig"]

#: The systolic engine of ``tessera run``, the demo and the system boards: 8 x 8, buffers for
#: the digits models (``SystolicConfig(**RUN_SYSTOLIC)``).
RUN_SYSTOLIC = {"rows": 8, "cols": 8, "max_m": 64, "max_k": 128, "max_n": 64}

#: Width of a bias (int32), a requantization multiplier and a shift: the numeric contract.
BIAS_BITS = 32
MULTIPLIER_BITS = 16
SHIFT_BITS = 6
#: One requantization parameter word: bias | multiplier << 32 | shift << 48.
QPARAM_BITS = BIAS_BITS + MULTIPLIER_BITS + SHIFT_BITS


@dataclass(frozen=True)
class SystemConfig:
    """Parameters of the system top, validated on construction.

    Parameters
    ----------
    systolic : SystolicConfig
        The GEMM engine (array, the largest GEMM its buffers hold); weight-stationary, the
        order of the on-chip im2col.
    sparse : SparseConfig
        The sparse PE array.
    act_depth : int
        Bytes of activation memory, 16..65536 (default 8192).
    weight_depth : int
        Words (``cols`` int8 lanes each) of dense weight memory, 1..65536 (default 2048).
    qparam_depth : int
        Output channels of systolic requantization parameters, 1..1024 (default 256).
    stats_depth : int
        Instructions whose cycle counts STATS reports, 1..1024 (default 64): the first
        ``stats_depth`` since the previous STATS.

    Raises
    ------
    TesseraError
        If a parameter is out of range or does not fit the instruction fields.
    """

    systolic: SystolicConfig = field(default_factory=SystolicConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)
    act_depth: int = 8192
    weight_depth: int = 2048
    qparam_depth: int = 256
    stats_depth: int = 64

    def __post_init__(self):
        if not isinstance(self.systolic, SystolicConfig):
            raise TesseraError(f"systolic must be a SystolicConfig, not {self.systolic!r}")
        if self.systolic.acc_width != BIAS_BITS:
            raise TesseraError(f"the system's systolic engine must have acc_width = {BIAS_BITS} "
                               f"(int32 accumulators), not {self.systolic.acc_width}")
        if self.systolic.dataflow != "ws":
            raise TesseraError("the system's systolic engine must be weight-stationary (the "
                               "order of its on-chip im2col), not "
                               f"{self.systolic.dataflow!r}")
        if not isinstance(self.sparse, SparseConfig):
            raise TesseraError(f"sparse must be a SparseConfig, not {self.sparse!r}")
        check_int(self.act_depth, "act_depth", 16, 2**FIELD_BITS[Op.CONV]["in_base"])
        check_int(self.weight_depth, "weight_depth", 1, 2**FIELD_BITS[Op.CONV]["w_base"])
        check_int(self.qparam_depth, "qparam_depth", 1, 2**FIELD_BITS[Op.CONV]["q_base"])
        check_int(self.stats_depth, "stats_depth", 1, 1024)

    @property
    def act_read_lanes(self):
        """Read lanes of the activation memory: the systolic rows (the im2col gather), the
        four bytes of a READ, and up to eight activations of a sparse ACT command."""
        return max(self.systolic.rows, 4, min(8, self.sparse.n_pes))

    @property
    def act_beats(self):
        """``(lanes, beats)``: activations read a cycle for one sparse ACT command, and the
        cycles it takes (its ``act_group * act_span`` lanes over :attr:`act_read_lanes`)."""
        used = self.sparse.act_group * self.sparse.act_span
        per = min(used, self.act_read_lanes)
        return per, -(-used // per)

    def word_bits(self, space):
        """Bits of one memory word of ``space`` (what one LOAD count unit carries)."""
        space = Space(space)
        return {
            Space.ACT: 8,
            Space.WEIGHT: 8 * self.systolic.cols,
            Space.QPARAM: QPARAM_BITS,
            Space.CODEBOOK: self.sparse.weight_width,
            Space.POINTER: 2 * self.sparse.ptr_bits,
            Space.SPMAT: self.sparse.word_width,
            Space.SPARAM: QPARAM_BITS,
        }[space]

    def depth(self, space):
        """Words of ``space`` (per PE for the per-PE spaces)."""
        space = Space(space)
        return {
            Space.ACT: self.act_depth,
            Space.WEIGHT: self.weight_depth,
            Space.QPARAM: self.qparam_depth,
            Space.CODEBOOK: self.sparse.codebook_depth,
            Space.POINTER: self.sparse.ptr_depth // 2,
            Space.SPMAT: self.sparse.spmat_depth,
            Space.SPARAM: self.sparse.param_depth,
        }[space]

    @classmethod
    def from_dict(cls, params):
        """The configuration of a plain dict (:meth:`to_dict`'s form, or any subset of it):
        ``systolic`` and ``sparse`` as dicts of their configurations' fields."""
        params = dict(params)
        if isinstance(params.get("systolic"), dict):
            params["systolic"] = SystolicConfig(**params["systolic"])
        if isinstance(params.get("sparse"), dict):
            params["sparse"] = SparseConfig(**params["sparse"])
        return cls(**params)

    def to_dict(self):
        """Plain-dict form (JSON, hardware parameters)."""
        return {"systolic": self.systolic.params(), "sparse": self.sparse.params(),
                "act_depth": self.act_depth, "weight_depth": self.weight_depth,
                "qparam_depth": self.qparam_depth, "stats_depth": self.stats_depth}
