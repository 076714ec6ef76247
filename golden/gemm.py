"""Dense kernels: int8 x int8 -> int32 GEMM, im2col (the Toeplitz mapping) and convolution.

Layout
------
Tensors are **NHWC** (batch, height, width, channels): the GEMM that a convolution lowers to then
produces ``(N*OH*OW, OC)`` rows with the output channel last, which is exactly the layout in which
:func:`tessera.golden.quant.requantize` broadcasts per-channel parameters, and no transpose is
needed
between layers. Convolution kernels are **OHWI** ``(OC, KH, KW, C)``; a patch of im2col is
flattened in the same ``(kh, kw, c)`` order, so the weight matrix of a convolution is simply
``kernel.reshape(OC, KH*KW*C)`` and ``conv = im2col(x) @ W.T``.

Padding is zero padding; for symmetric int8 the code 0 is the real value 0, so padding never needs a
zero point.

Exactness
---------
The products are computed in float64 BLAS and converted back: every partial sum of int8 x int8
products is an integer below ``2**53`` in magnitude as long as ``K < 2**38``, so the result is exact
whatever order BLAS sums in. The int32 accumulator is checked: by default a result outside int32
raises :class:`~tessera.golden.errors.TesseraError` (it cannot happen for ``K < 2**17``); with
``overflow="wrap"`` it wraps modulo ``2**32`` as a two's-complement int32 register would.
"""

import numpy as np

from .errors import TesseraError, check_int, check_int_array
from .quant import INT8_MAX, INT8_MIN, INT32_MAX, INT32_MIN

__all__ = [
    "conv2d",
    "conv2d_int8",
    "conv_output_size",
    "gemm_int8",
    "im2col",
    "kernel_to_matrix",
    "linear_int8",
    "wrap_int32",
]

_MAX_EXACT_K = 2**38


def _int8_operand(value, name):
    return check_int_array(value, name, low=INT8_MIN, high=INT8_MAX)


def wrap_int32(x):
    """Wrap int64 values to int32 two's complement (what a 32-bit register does on overflow)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2**31) % 2**32 - 2**31).astype(np.int32)


def _to_int32(exact, overflow):
    if overflow == "wrap":
        return wrap_int32(exact)
    if exact.size and (exact.min() < INT32_MIN or exact.max() > INT32_MAX):
        raise TesseraError("int32 accumulator overflow (pass overflow='wrap' to wrap around)")
    return exact.astype(np.int32)


def gemm_int8(a, b, *, overflow="error"):
    """Return the int32 product ``a @ b`` of two int8 matrices, exactly.

    Parameters
    ----------
    a : array_like of int, shape (M, K)
        Values in [-128, 127] (any integer dtype is accepted if the values fit).
    b : array_like of int, shape (K, N)
    overflow : {"error", "wrap"}
        What an accumulator outside int32 does: raise, or wrap modulo ``2**32``.

    Returns
    -------
    numpy.ndarray of int32, shape (M, N)

    Raises
    ------
    TesseraError
        On a non-integer dtype, a value outside int8, shapes that do not multiply, or (with
        ``overflow="error"``) an accumulator outside int32.
    """
    if overflow not in ("error", "wrap"):
        raise TesseraError(f"overflow must be 'error' or 'wrap', not {overflow!r}")
    a = _int8_operand(a, "a")
    b = _int8_operand(b, "b")
    if a.ndim != 2 or b.ndim != 2:
        raise TesseraError(f"gemm operands must be 2-D, not {a.ndim}-D and {b.ndim}-D")
    if a.shape[1] != b.shape[0]:
        raise TesseraError(f"cannot multiply {a.shape} by {b.shape}: inner sizes differ")
    if a.shape[1] >= _MAX_EXACT_K:
        raise TesseraError(f"K = {a.shape[1]} is too large for an exact float64 product")
    exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return _to_int32(exact, overflow)


def linear_int8(x, w, *, overflow="error"):
    """Return the int32 accumulators of a fully connected layer, ``x @ w.T``.

    ``x`` is ``(batch, in)`` (or ``(in,)``), ``w`` is ``(out, in)``; the result is
    ``(batch, out)`` (or ``(out,)``), output channel last.
    """
    x = np.asarray(x)
    vector = x.ndim == 1
    y = gemm_int8(x[None, :] if vector else x, np.asarray(w).T, overflow=overflow)
    return y[0] if vector else y


def conv_output_size(size, kernel, stride=1, padding=0):
    """Return the output length ``(size + 2*padding - kernel) // stride + 1`` along one axis.

    Raises
    ------
    TesseraError
        If the kernel does not fit in the padded input or a parameter is out of range.
    """
    for name, value, low in (("kernel", kernel, 1), ("stride", stride, 1), ("padding", padding, 0)):
        check_int(value, name, low, None)
    if size + 2 * padding < kernel:
        raise TesseraError(
            f"a {kernel}-wide kernel does not fit an input of {size} padded by {padding}"
        )
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, kernel_size, *, stride=1, padding=0):
    """Unfold NHWC images into patches: the Toeplitz (im2col) matrix of a convolution.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, H, W, C)
        Any dtype (int8 for the integer path, float for training).
    kernel_size : int or (int, int)
        ``KH, KW``.
    stride, padding : int
        The same on both spatial axes; padding is with zeros.

    Returns
    -------
    numpy.ndarray, shape (N, OH, OW, KH*KW*C)
        ``out[n, i, j]`` is the patch under output pixel ``(i, j)``, flattened in ``(kh, kw, c)``
        order (matching :func:`kernel_to_matrix`). Reshape to ``(N*OH*OW, KH*KW*C)`` for a GEMM.

    Raises
    ------
    TesseraError
        If ``x`` is not 4-D or the kernel does not fit.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise TesseraError(f"im2col needs an NHWC array (4-D), not {x.ndim}-D")
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    n, h, w, c = x.shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    out = np.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    # One strided slice per kernel offset: KH*KW vectorised copies.
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, i, j, :] = x[:, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return out.reshape(n, oh, ow, kh * kw * c)


def kernel_to_matrix(kernel):
    """Flatten an OHWI kernel ``(OC, KH, KW, C)`` to the ``(OC, KH*KW*C)`` weight matrix."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise TesseraError(f"a convolution kernel must be 4-D (OC, KH, KW, C), not {kernel.ndim}-D")
    return kernel.reshape(kernel.shape[0], -1)


def _conv_checks(x, kernel):
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    if x.ndim != 4 or kernel.ndim != 4:
        raise TesseraError("conv2d needs x as (N, H, W, C) and kernel as (OC, KH, KW, C)")
    if x.shape[3] != kernel.shape[3]:
        raise TesseraError(
            f"input has {x.shape[3]} channels but the kernel expects {kernel.shape[3]}"
        )
    return x, kernel


def conv2d_int8(x, kernel, *, stride=1, padding=0, overflow="error"):
    """Return the int32 accumulators of an int8 convolution, as im2col + :func:`gemm_int8`.

    Parameters
    ----------
    x : array_like of int8, shape (N, H, W, C)
    kernel : array_like of int8, shape (OC, KH, KW, C)
    stride, padding : int
    overflow : {"error", "wrap"}

    Returns
    -------
    numpy.ndarray of int32, shape (N, OH, OW, OC)
        Cross-correlation (no kernel flip), as in every deep-learning framework.
    """
    x, kernel = _conv_checks(x, kernel)
    _int8_operand(x, "x")
    oc, kh, kw, _ = kernel.shape
    patches = im2col(x, (kh, kw), stride=stride, padding=padding)
    n, oh, ow, k = patches.shape
    acc = gemm_int8(patches.reshape(-1, k), kernel_to_matrix(kernel).T, overflow=overflow)
    return acc.reshape(n, oh, ow, oc)


def conv2d(x, kernel, *, stride=1, padding=0):
    """Float convolution, NHWC x OHWI -> NHWC, through the same im2col (for training)."""
    x, kernel = _conv_checks(x, kernel)
    _, kh, kw, _ = kernel.shape
    patches = im2col(x, (kh, kw), stride=stride, padding=padding)
    return patches @ kernel_to_matrix(kernel).T.astype(np.result_type(patches, kernel))
