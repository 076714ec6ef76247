"""The EIE-style sparse PE array: compressed weights in, ``y = requantize(W x)`` out.

The engine's shape: its configuration is :class:`tessera.golden.config.SparseConfig` (pure
Python, re-exported here), its protocol :mod:`.protocol` (opcodes, every payload layout, error
bits), its top :mod:`.array` (:class:`SparseArray`); the host encoder is
:mod:`tessera.sim.host.sparse`. The units, one concept per module: :mod:`.queue` (activation
queue), :mod:`.pointer` (pointer read unit), :mod:`.spmat` (sparse-matrix read unit),
:mod:`.codebook` (codebook decoder), :mod:`.address` (address accumulation), :mod:`.arith`
(arithmetic unit and accumulators), :mod:`.actrw` (source and destination activation buffers),
:mod:`.writeback` (post-processing into the buffers), :mod:`.pe` (the PE), :mod:`.detector`
(leading non-zero detection), :mod:`.broadcast` (the registered broadcast to every queue).
"""

from tessera.golden.config.sparse import SparseConfig

from .array import SparseArray
from .pe import SparsePE

__all__ = ["SparseArray", "SparseConfig", "SparsePE"]
