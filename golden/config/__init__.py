"""The configurations of tessera's engines: pure Python, importable without elaborating anything.

One module per engine: :mod:`.systolic` (:class:`SystolicConfig`, the dense GEMM engine) and
:mod:`.sparse` (:class:`SparseConfig`, the EIE-style sparse PE array). Each is a frozen dataclass
validated on construction, with ``params()`` giving the keyword arguments of its hardware top;
the golden cycle models, the host encoders (:mod:`tessera.sim.host`) and the hardware
(:mod:`tessera.hw`) all read it. golden <- hw <- sim: nothing here imports Amaranth.
"""

from .sparse import SparseConfig
from .systolic import SystolicConfig

__all__ = ["SparseConfig", "SystolicConfig"]
