"""An independent reference for requantization, in exact rational arithmetic.

tessera.golden.quant.requantize computes ``(t + 2**(s-1)) >> s`` on int64. This module writes the
same contract another way, so that a bug shared by golden and hardware cannot hide behind one
formula: the real value ``(acc + bias) * M / 2**s`` is a :class:`fractions.Fraction`, and the
rounding is decided by comparing its fractional part with one half, ties handled by their own
branch (toward +infinity: 2.5 -> 3, -2.5 -> -2). No shift, no int64, no NumPy.

The vectors of :func:`tie_vectors` put every shift in front of exact ties, values one step either
side of a tie, and the extremes of the accumulator, the bias and the multiplier.
"""

import math
from fractions import Fraction

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
M_MAX = 2**16 - 1

__all__ = ["reference", "tie_vectors"]


def round_ties_up(value):
    """Round a Fraction to the nearest integer; an exact half goes toward +infinity."""
    below = math.floor(value)
    rest = value - below               # in [0, 1)
    if rest > Fraction(1, 2):
        return below + 1
    if rest == Fraction(1, 2):         # the tie, on its own branch
        return below + 1
    return below


def reference(acc, bias, multiplier, shift, relu=False):
    """Requantize one element with Python's exact rationals (the contract of golden.quant)."""
    real = Fraction((int(acc) + int(bias)) * int(multiplier), 2 ** int(shift))
    r = round_ties_up(real)
    if relu and r < 0:
        r = 0
    return min(127, max(-128, r))


def _split(total, rng):
    """Split ``total`` (|total| <= 2**32 - 2) into int32 ``acc + bias``, ``acc`` drawn at random."""
    low = max(INT32_MIN, total - INT32_MAX)
    high = min(INT32_MAX, total - INT32_MIN)
    acc = int(rng.integers(low, high + 1)) if rng is not None else min(max(total, low), high)
    return acc, total - acc


def tie_vectors(shifts=range(1, 32), rng=None):
    """Exact ties, near-ties and extremes for every shift in ``shifts``.

    For each shift ``s`` and several multipliers ``M = 2**j`` (and odd ones), the sums
    ``acc + bias = (2k + 1) * 2**(s - 1) / M`` make ``(acc + bias) * M / 2**s = k + 1/2`` exactly,
    for ``k`` across the int8 range and beyond it; ``t - 1`` and ``t + 1`` are the near-ties. The
    extremes: ``acc`` and ``bias`` at INT32_MIN and INT32_MAX, ``M`` at 0, 1 and 2**16 - 1.

    Returns
    -------
    list of (acc, bias, multiplier, shift) tuples of Python ints, every field within the
    contract's ranges.
    """
    out = []
    ks = list(range(-131, -124)) + list(range(-4, 4)) + list(range(124, 131)) + [-65, 63]
    for s in shifts:
        for j in sorted({0, min(s - 1, 8), min(s - 1, 15)}):
            m = 2**j
            for k in ks:
                for delta in (-1, 0, 1):
                    # t = (2k + 1) * 2**(s-1) + delta * m, a multiple of m
                    t = (2 * k + 1) * 2 ** (s - 1) + delta * m
                    total = t // m
                    if abs(total) <= 2**32 - 2:
                        out.append((*_split(total, rng), m, s))
        # Odd multipliers: t = M * (acc + bias) is a tie when acc + bias is an odd multiple of
        # 2**(s-1); 85 * 3 / 2 = 127.5 and -127.5 are ties at the edge of saturation.
        for m in (3, 85):
            for odd in (-3, -1, 1, 3):
                for delta in (-1, 0, 1):
                    total = odd * 2 ** (s - 1) + delta
                    if abs(total) <= 2**32 - 2:
                        out.append((*_split(total, rng), m, s))
        for acc in (INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX):
            for bias in (INT32_MIN, 0, INT32_MAX):
                for m in (0, 1, M_MAX):
                    out.append((acc, bias, m, s))
    return out
