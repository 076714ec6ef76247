"""Reference of the int8 multiply-accumulate processing element (:class:`tessera.hw.pe.MACPE`)."""

import numpy as np

from .errors import TesseraError, check_int_array

__all__ = ["PE_LATENCY", "mac_trace", "wrap_signed"]

#: Clock edges from the PE sampling ``a``, ``w``, ``en`` and ``clr`` to the result showing on
#: ``acc`` (:attr:`tessera.hw.pe.MACPE.LATENCY`; the tests check that the two agree): the
#: operand registers, two multiplier stages, the accumulator. The systolic cycle model
#: (:mod:`tessera.golden.systolic`) takes it as a constant.
PE_LATENCY = 4


def wrap_signed(values, width):
    """Wrap integers to ``width``-bit two's complement, as a ``width``-bit register does.

    Returns int64; ``width`` is at most 64.
    """
    values = np.asarray(values, dtype=np.int64)
    if width >= 64:
        return values
    modulus = np.int64(1) << np.int64(width)
    half = modulus >> np.int64(1)
    return ((values + half) & (modulus - 1)) - half


def _int8(name, values):
    return check_int_array(values, name, low=-128, high=127)


def mac_trace(a, w, en, clr, acc_width=32):
    """Return the accumulator after each input of a stream through one PE.

    ``a``, ``w``, ``en`` and ``clr`` are equally long 1-D arrays, one element per cycle. Element
    ``t`` of the result is the accumulator once input ``t`` has been taken (the hardware shows it
    on ``acc`` :data:`PE_LATENCY` edges later)::

        clr  en   acc
        0    0    acc
        0    1    acc + a*w
        1    0    0
        1    1    a*w

    The sum wraps modulo ``2**acc_width``. The accumulator starts at 0 (after reset).
    """
    a, w = _int8("a", a), _int8("w", w)
    en = np.asarray(en, dtype=bool)
    clr = np.asarray(clr, dtype=bool)
    if not a.shape == w.shape == en.shape == clr.shape or a.ndim != 1:
        raise TesseraError("a, w, en and clr must be 1-D arrays of one length")
    products = np.where(en, a * w, 0)
    # Segments restart at every clear: acc[t] = sum of products since the last clear (inclusive).
    total = np.cumsum(products)
    last_clear = np.maximum.accumulate(np.where(clr, np.arange(len(clr)), -1))
    before = np.where(last_clear > 0, total[np.maximum(last_clear - 1, 0)], 0)
    return wrap_signed(total - before, acc_width)
