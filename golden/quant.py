"""The numeric contract: symmetric int8 quantization and int32 -> int8 requantization.

This module is THE definition the hardware is tested against. Every engine of tessera ends a layer
with the same post-processing, :func:`requantize`, and must match it bit for bit.

Number formats
--------------
- Activations and weights are int8, symmetric (no zero point): a real value ``x`` is represented by
  ``q = clip(round(x / scale), -128, 127)``, where ``round`` rounds half away from zero
  (:func:`round_half_away`). Weights use ``scale = max|w| / 127`` so they land in [-127, 127];
  activations are clipped to [-128, 127].
- Accumulators are int32, two's complement.
- A requantization step is an integer multiplier ``M`` (``0 <= M < 2**16``) and a right shift ``s``
  (``0 <= s < 48``), per tensor or per output channel, that together approximate the real factor
  ``M / 2**s = scale_in * scale_w / scale_out`` (:func:`quantize_multiplier`).

Requantization, bit by bit
--------------------------
For an int32 accumulator ``acc`` and an int32 ``bias``::

    t = (acc + bias) * M                       # exact: |acc + bias| < 2**32, so |t| < 2**48
    r = (t + (1 << (s - 1))) >> s  if s > 0 else t
    r = max(r, 0)                  if relu
    y = clip(r, -128, 127)                     # saturation, as int8

``>>`` is an arithmetic shift right (floor division by ``2**s``). Adding ``2**(s-1)`` first rounds
to nearest with ties toward +infinity ("round half up"): 2.5 -> 3, -2.5 -> -2, -3.5 -> -3. The
hardware needs a 49-bit signed product and a 49-bit adder for ``t`` and the rounding constant; no
intermediate step wraps. A "raw" output, where a caller asks for one, is the int32 accumulator
itself (without bias or scaling).

Channel parameters broadcast with NumPy's rules: the output channel is the LAST axis of the
accumulator (``acc`` of shape ``(..., C)`` with ``bias``, ``multiplier``, ``shift`` of shape
``(C,)`` or scalars).
"""

import numpy as np

from .errors import TesseraError, check_int_array

__all__ = [
    "INT8_MAX",
    "INT8_MIN",
    "INT32_MAX",
    "INT32_MIN",
    "MAX_MULTIPLIER",
    "MAX_SHIFT",
    "calibrate_scale",
    "dequantize",
    "quantize",
    "quantize_bias",
    "quantize_multiplier",
    "relu",
    "requantize",
    "round_half_away",
    "rounding_shift",
    "saturate_int8",
]

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
#: Largest multiplier: ``0 <= M <= MAX_MULTIPLIER`` (16 bits, unsigned).
MAX_MULTIPLIER = 2**16 - 1
#: Largest shift: ``0 <= s <= MAX_SHIFT`` (6 bits).
MAX_SHIFT = 47


def _float_array(value, name):
    array = np.asarray(value)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise TesseraError(f"{name} must be a real-valued array, not {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        raise TesseraError(f"{name} must be finite (it holds NaN or infinity)")
    return array


def round_half_away(x):
    """Round to the nearest integer, ties away from zero (2.5 -> 3, -2.5 -> -3).

    This is the rounding of float -> int8 quantization (host side); it is symmetric, so
    ``quantize(-x) == -quantize(x)`` away from saturation. It is *not* the rounding of
    :func:`requantize`, which is integer-only and rounds ties toward +infinity.

    Parameters
    ----------
    x : array_like of float

    Returns
    -------
    numpy.ndarray of float64
    """
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def calibrate_scale(x, *, channel_axis=None, percentile=100.0):
    """Return the symmetric int8 scale that maps the data's range onto [-127, 127].

    ``scale = m / 127`` where ``m`` is the largest magnitude of ``x`` (``percentile=100``) or the
    given percentile of ``|x|`` (to ignore outliers), over the whole tensor or, with
    ``channel_axis``, separately for each index along that axis (per-output-channel scales for a
    weight matrix of shape ``(out, in)``: ``channel_axis=0``). A range of zero gives scale 1.0 so
    that the all-zero tensor quantizes to zeros; so does a range so small (subnormal) that
    ``m / 127`` underflows to zero.

    Parameters
    ----------
    x : array_like of float
        Calibration data: the weights, or activations observed on calibration inputs.
    channel_axis : int or None
        None for one scale per tensor; an axis for one scale per index along it.
    percentile : float
        In (0, 100]; 100 uses the maximum.

    Returns
    -------
    float or numpy.ndarray of float64
        A positive scale, or an array of scales of shape ``(x.shape[channel_axis],)``.

    Raises
    ------
    TesseraError
        If ``x`` is empty, not real or not finite, or ``percentile`` is outside (0, 100].
    """
    x = _float_array(x, "calibration data")
    if x.size == 0:
        raise TesseraError("calibration data must not be empty")
    if not 0 < percentile <= 100:
        raise TesseraError(f"percentile must be in (0, 100], not {percentile!r}")
    magnitude = np.abs(x)
    if channel_axis is None:
        peak = np.percentile(magnitude, percentile) if percentile < 100 else magnitude.max()
        scale = float(peak / INT8_MAX)
        return scale if scale > 0 else 1.0
    if not -x.ndim <= channel_axis < x.ndim:
        raise TesseraError(
            f"channel_axis must be an axis of a {x.ndim}-D array, not {channel_axis}"
        )
    flat = np.moveaxis(magnitude, channel_axis, 0).reshape(x.shape[channel_axis], -1)
    if flat.shape[1] == 0:
        raise TesseraError("calibration data must not be empty")
    peak = np.percentile(flat, percentile, axis=1) if percentile < 100 else flat.max(axis=1)
    scale = peak / INT8_MAX
    return np.where(scale > 0, scale, 1.0)


def _broadcast_scale(scale, ndim, channel_axis):
    scale = _float_array(scale, "scale")
    if np.any(scale <= 0):
        raise TesseraError("scale must be positive")
    if channel_axis is None:
        if scale.ndim != 0:
            raise TesseraError("a per-tensor scale must be a scalar; pass channel_axis for arrays")
        return scale
    if scale.ndim != 1:
        raise TesseraError(f"a per-channel scale must be 1-D, not {scale.ndim}-D")
    shape = [1] * ndim
    shape[channel_axis] = scale.shape[0]
    return scale.reshape(shape)


def quantize(x, scale, *, channel_axis=None):
    """Quantize real values to int8: ``clip(round_half_away(x / scale), -128, 127)``.

    Parameters
    ----------
    x : array_like of float
    scale : float or array_like of float
        A positive scalar (per tensor) or a 1-D array with one scale per index along
        ``channel_axis`` (from :func:`calibrate_scale`).
    channel_axis : int or None

    Returns
    -------
    numpy.ndarray of int8

    Raises
    ------
    TesseraError
        If ``x`` or ``scale`` is not real and finite, a scale is not positive, or the scale's
        shape does not match ``channel_axis``.
    """
    x = _float_array(x, "x")
    if channel_axis is not None and not -x.ndim <= channel_axis < x.ndim:
        raise TesseraError(
            f"channel_axis must be an axis of a {x.ndim}-D array, not {channel_axis}"
        )
    s = _broadcast_scale(scale, x.ndim, channel_axis)
    if channel_axis is not None and s.shape[channel_axis] != x.shape[channel_axis]:
        raise TesseraError(
            f"need {x.shape[channel_axis]} per-channel scales, not {s.shape[channel_axis]}"
        )
    return np.clip(round_half_away(x / s), INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(q, scale, *, channel_axis=None):
    """Return the real values ``q * scale`` that int8 (or int32) codes stand for, as float64."""
    q = check_int_array(q, "q")
    return q * _broadcast_scale(scale, q.ndim, channel_axis)


def quantize_bias(bias, scale):
    """Quantize a real bias to the accumulator's int32 scale: ``round_half_away(b / scale)``.

    ``scale`` is the accumulator's scale, ``scale_in * scale_w`` (per tensor or per output
    channel, broadcast along the last axis).

    Raises
    ------
    TesseraError
        If a quantized bias does not fit int32.
    """
    bias = _float_array(bias, "bias")
    scale = _float_array(scale, "bias scale")
    if np.any(scale <= 0):
        raise TesseraError("bias scale must be positive")
    q = round_half_away(bias / scale)
    if q.size and np.abs(q).max() > INT32_MAX:
        raise TesseraError(
            "a quantized bias does not fit int32; the accumulator scale is too small"
        )
    return q.astype(np.int32)


def quantize_multiplier(real_scale):
    """Turn a real requantization factor into ``(multiplier, shift)`` within the contract.

    Returns the integers ``M`` (``0 <= M < 2**16``) and ``s`` (``0 <= s < 48``) with
    ``M / 2**s`` closest to ``real_scale`` for the largest usable ``s``: ``M`` is normalised into
    ``[2**15, 2**16)`` when the shift range allows, so the relative error is at most ``2**-16``.
    ``real_scale == 0`` gives ``(0, 0)``.

    Parameters
    ----------
    real_scale : float or array_like of float
        ``scale_in * scale_w / scale_out``, one per tensor or per output channel.

    Returns
    -------
    (multiplier, shift) : tuple of int64 arrays (or Python ints for a scalar input)

    Raises
    ------
    TesseraError
        If a factor is negative, not finite, at least ``2**16 - 0.5`` (too large for ``M``) or so
        small that ``M`` would round to 0 at the largest shift.
    """
    real = _float_array(real_scale, "real scale")
    if np.any(real < 0):
        raise TesseraError("real scale must not be negative")
    if np.any(real >= MAX_MULTIPLIER + 0.5):
        raise TesseraError(f"real scale must be below {MAX_MULTIPLIER + 0.5}, not {real.max()}")
    positive = real > 0
    exponent = np.floor(np.log2(np.where(positive, real, 1.0)))
    shift = np.clip(15 - exponent, 0, MAX_SHIFT).astype(np.int64)
    multiplier = np.floor(real * np.exp2(shift) + 0.5).astype(np.int64)
    # Rounding can carry M up to exactly 2**16: take one bit less of shift.
    carry = multiplier > MAX_MULTIPLIER
    shift = np.where(carry, shift - 1, shift)
    multiplier = np.where(carry, np.floor(real * np.exp2(shift) + 0.5), multiplier).astype(np.int64)
    if np.any(positive & (multiplier == 0)):
        raise TesseraError(
            f"real scale {real[positive & (multiplier == 0)].min():.3g} is too small for a "
            f"16-bit multiplier and a shift below {MAX_SHIFT + 1}"
        )
    multiplier = np.where(positive, multiplier, 0)
    shift = np.where(positive, shift, 0)
    if real.ndim == 0:
        return int(multiplier), int(shift)
    return multiplier, shift


def rounding_shift(t, shift):
    """Shift right with rounding to nearest, ties toward +infinity: ``(t + 2**(s-1)) >> s``.

    ``shift == 0`` returns ``t`` unchanged. Works element-wise on int64 arrays; ``>>`` is the
    arithmetic shift (floor division by ``2**s``).
    """
    t = check_int_array(t, "t")
    shift = check_int_array(shift, "shift", low=0, high=62)
    half = np.left_shift(np.int64(1), shift) >> 1  # 2**(s-1), or 0 when s == 0
    return (t + half) >> shift


def saturate_int8(r):
    """Clip integers to [-128, 127] and return int8 (saturation, never wrap-around)."""
    return np.clip(check_int_array(r, "r"), INT8_MIN, INT8_MAX).astype(np.int8)


def relu(r):
    """Return ``max(r, 0)`` element-wise, keeping the integer dtype."""
    r = np.asarray(r)
    return np.maximum(r, np.zeros((), dtype=r.dtype))


def requantize(acc, bias, multiplier, shift, relu=False):
    """Requantize int32 accumulators to int8: bias, multiply, round-shift, ReLU, saturate.

    Exactly the contract in this module's docstring::

        t = (acc + bias) * multiplier
        r = (t + (1 << (shift - 1))) >> shift  if shift > 0 else t
        r = max(r, 0)  if relu
        y = clip(r, -128, 127)

    Parameters
    ----------
    acc : array_like of int
        Accumulators, shape ``(..., C)``; values must fit int32.
    bias : int or array_like of int
        int32 biases, scalar or shape ``(C,)`` (broadcast along the last axis).
    multiplier : int or array_like of int
        ``0 <= M < 2**16``, scalar or per channel.
    shift : int or array_like of int
        ``0 <= s < 48``, scalar or per channel.
    relu : bool
        Clamp negative results to zero before saturating.

    Returns
    -------
    numpy.ndarray of int8
        Same shape as the broadcast of the inputs.

    Raises
    ------
    TesseraError
        If an input is not integer, a value is outside its range (acc and bias int32, multiplier
        16-bit unsigned, shift 0..47), or the shapes do not broadcast.
    """
    acc = check_int_array(acc, "acc", low=INT32_MIN, high=INT32_MAX)
    bias = check_int_array(bias, "bias", low=INT32_MIN, high=INT32_MAX)
    multiplier = check_int_array(multiplier, "multiplier", low=0, high=MAX_MULTIPLIER)
    shift = check_int_array(shift, "shift", low=0, high=MAX_SHIFT)
    try:
        shape = np.broadcast_shapes(acc.shape, bias.shape, multiplier.shape, shift.shape)
    except ValueError:
        raise TesseraError(
            f"acc {acc.shape}, bias {bias.shape}, multiplier {multiplier.shape} and shift "
            f"{shift.shape} do not broadcast (channels are the last axis)"
        ) from None
    del shape
    r = rounding_shift((acc + bias) * multiplier, shift)
    if relu:
        r = np.maximum(r, 0)
    return np.clip(r, INT8_MIN, INT8_MAX).astype(np.int8)
