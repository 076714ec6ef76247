"""The on-chip im2col: which activation-memory address feeds each lane of the systolic ``a`` stream.

For a CONV instruction (:class:`tessera.golden.isa.Conv`) the systolic engine takes its A operand
(the im2col patches of output rows ``row0 .. row0 + rows - 1``, ``M = rows * OW`` by
``K = kernel**2 * c``) as the words of :func:`tessera.golden.systolic.pack_a`. The system's im2col
address generator produces, for each of those words and each of its ``R`` lanes, the address of
the int8 activation that belongs there, or *zero* (padding, or a lane past ``K``). This module
defines that stream; ``act[address]`` (zero where flagged) is exactly ``pack_a(A)``.

Weight-stationary order only (the system's engine is weight-stationary for now): words run over
M-tiles of ``tile_m`` rows, then K-tiles, then the rows of the M-tile; lane ``i`` of K-tile
``kt`` is patch element ``k = kt * R + i``, i.e. kernel row ``k // (kernel * c)``, kernel column
``(k // c) % kernel``, channel ``k % c``.
"""

import numpy as np

from .errors import TesseraError

__all__ = ["ZERO", "im2col_addresses"]

#: The address value that stands for a zero lane.
ZERO = -1


def im2col_addresses(conv, config):
    """Return the (words, R) int64 addresses of a CONV's ``a`` stream (:data:`ZERO`: zero).

    Parameters
    ----------
    conv : tessera.golden.isa.Conv
    config : tessera.golden.systolic.SystolicConfig
        Weight-stationary; gives ``R = rows`` and ``tile_m``.

    Raises
    ------
    TesseraError
        For an output-stationary configuration or a geometry the CONV cannot have.
    """
    if config.dataflow != "ws":
        raise TesseraError("the im2col address stream is defined for the weight-stationary "
                           "dataflow only")
    if conv.kernel > conv.h + 2 * conv.padding or conv.kernel > conv.w + 2 * conv.padding:
        raise TesseraError(f"a {conv.kernel}-wide kernel does not fit the padded input")
    r = config.rows
    ow = (conv.w + 2 * conv.padding - conv.kernel) // conv.stride + 1
    k_total = conv.kernel * conv.kernel * conv.c
    kt_count = -(-k_total // r)
    m_total = conv.rows * ow
    m = np.arange(m_total)
    oy, ox = conv.row0 + m // ow, m % ow
    k = np.arange(kt_count * r)
    ky, kx, ci = k // (conv.kernel * conv.c), (k // conv.c) % conv.kernel, k % conv.c
    iy = oy[:, None] * conv.stride + ky[None, :] - conv.padding           # (M, KT*R)
    ix = ox[:, None] * conv.stride + kx[None, :] - conv.padding
    inside = (iy >= 0) & (iy < conv.h) & (ix >= 0) & (ix < conv.w) & (k < k_total)[None, :]
    addr = np.where(inside, conv.in_base + (iy * conv.w + ix) * conv.c + ci[None, :], ZERO)
    addr = addr.reshape(m_total, kt_count, r)
    words = []
    for m0 in range(0, m_total, config.tile_m):
        block = addr[m0:m0 + config.tile_m]                               # (Mm, KT, R)
        words.append(block.transpose(1, 0, 2).reshape(-1, r))
    return np.concatenate(words).astype(np.int64)
