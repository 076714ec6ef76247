"""The EIE-style sparse PE array: compressed weights in, ``y = requantize(W x)`` out.

One concept per module: :mod:`.config` (parameters), :mod:`.commands` (host interface),
:mod:`.queue` (activation queue), :mod:`.pointer` (pointer read unit), :mod:`.spmat`
(sparse-matrix read unit), :mod:`.codebook` (codebook decoder), :mod:`.address` (address
accumulation), :mod:`.arith` (arithmetic unit and accumulators), :mod:`.actrw` (source and
destination activation buffers), :mod:`.writeback` (post-processing into the buffers),
:mod:`.pe` (the PE), :mod:`.detector` (leading non-zero detection), :mod:`.array` (the top) and
:mod:`.program` (command streams for a matrix, host side).
"""

from .array import SparseArray
from .config import SparseConfig
from .pe import SparsePE

__all__ = ["SparseArray", "SparseConfig", "SparsePE"]
