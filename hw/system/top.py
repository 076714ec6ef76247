"""The system top: the command processor, the systolic GEMM engine and the sparse PE array."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.isa import CMD_WIDTH, Error
from tessera.golden.system_config import SystemConfig

from ..sparse.array import SparseArray
from ..systolic.top import SystolicGemm
from .processor import CommandProcessor
from .protocol import output_layout

__all__ = ["SystemTop"]


class SystemTop(wiring.Component):
    """Both engines behind one command stream: a whole network on chip (``docs/system.md``).

    Instructions (:mod:`tessera.golden.isa`, packed by :mod:`tessera.sim.host.system`) arrive
    on ``cmd``; READ, STATS and BARRIER answer on ``o``. Every instruction's values and cycles
    are those of :class:`tessera.golden.executor.Executor` (cycles: with ``cmd`` never gapped
    and ``o`` never back-pressured). Bad instructions raise a sticky bit of ``error`` and are
    skipped; the top never hangs.

    Parameters
    ----------
    config : SystemConfig or None
        Default ``SystemConfig()``. Or, as keywords (the registry of tops and the simulator
        runner pass plain values): ``systolic`` and ``sparse`` as dicts of their
        configurations' fields, and the other fields of :class:`SystemConfig`.
    dsp_macs : int or None
        Systolic PEs that multiply in DSP blocks, the rest on logic (default: all); a
        synthesis choice that changes no value and no cycle (``SystolicGemm``'s parameter).

    Members
    -------
    cmd : In(stream.Signature(32))
        Instruction headers (four words each, word 0 first) and LOAD payloads; back-pressure.
    o : Out(stream.Signature(output_layout))
        ``data`` (32 bits) and ``kind`` (DATA, STATS, BARRIER); back-pressure.
    error : Out(4)
        The sticky :class:`~tessera.golden.isa.Error` bits (what STATS sends as its second
        word).

    Raises
    ------
    TypeError, ValueError, TesseraError
        For a bad configuration.
    """

    def __init__(self, config=None, *, dsp_macs=None, **params):
        if config is None:
            config = SystemConfig.from_dict(params)
        elif params:
            raise TypeError("give a SystemConfig or keywords, not both")
        if not isinstance(config, SystemConfig):
            raise TypeError(f"config must be a SystemConfig, not {config!r}")
        self.config = config
        self.dsp_macs = dsp_macs
        super().__init__({
            "cmd": In(stream.Signature(unsigned(CMD_WIDTH))),
            "o": Out(stream.Signature(output_layout)),
            "error": Out(len(Error)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.processor = proc = CommandProcessor(cfg)
        m.submodules.systolic = gemm = SystolicGemm.from_config(cfg.systolic,
                                                                dsp_macs=self.dsp_macs)
        m.submodules.sparse = sparse = SparseArray.from_config(cfg.sparse)
        wiring.connect(m, wiring.flipped(self.cmd), proc.cmd)
        wiring.connect(m, proc.o, wiring.flipped(self.o))
        wiring.connect(m, proc.gemm_cmd, gemm.cmd)
        wiring.connect(m, proc.gemm_a, gemm.a)
        wiring.connect(m, proc.gemm_b, gemm.b)
        wiring.connect(m, proc.gemm_q, gemm.q)
        wiring.connect(m, gemm.o, proc.gemm_o)
        wiring.connect(m, proc.sparse_i, sparse.i)
        wiring.connect(m, sparse.o, proc.sparse_o)
        m.d.comb += [proc.gemm_busy.eq(gemm.busy), proc.sparse_busy.eq(sparse.busy),
                     proc.sparse_error.eq(sparse.error), self.error.eq(proc.error)]
        return m
