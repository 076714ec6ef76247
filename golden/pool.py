"""Max pooling over NHWC feature maps: the forward kernel (any dtype) and its gradient.

A ``k x k`` window moves with stride ``s`` over the height and width of an NHWC map, without
padding; each output is the largest value under the window, channel by channel. The output size is
``floor((H - k) / s) + 1`` on each axis (:func:`pool_output_size`); a window larger than the map is
refused.

On int8 data the kernel is exact (a maximum never rounds), and because requantization followed by
ReLU is monotone, pooling an int8 map gives the same numbers as requantizing the pooled
accumulators. tessera defines it on the int8 map the previous layer wrote (see
:mod:`tessera.golden.inference`).

The gradient (:func:`max_pool_backward`) sends each output's gradient to the position of the first
maximum of its window in row-major ``(i, j)`` order (NumPy's ``argmax`` rule); overlapping windows
(``s < k``) add up.
"""

import numpy as np

from .errors import TesseraError, check_int

__all__ = ["max_pool", "max_pool_backward", "pool_output_size"]


def pool_output_size(size, kernel, stride):
    """Return ``floor((size - kernel) / stride) + 1``, the pooled length of one axis.

    Raises
    ------
    TesseraError
        If ``kernel`` or ``stride`` is not a positive integer, or the window is larger than the
        axis.
    """
    size = check_int(size, "pooled size", 1, 2**31)
    kernel = check_int(kernel, "pool kernel", 1, 2**31)
    stride = check_int(stride, "pool stride", 1, 2**31)
    if kernel > size:
        raise TesseraError(
            f"pool window {kernel}x{kernel} is larger than the {size}-wide input; use a kernel of "
            f"at most {size}"
        )
    return (size - kernel) // stride + 1


def _windows(x, kernel, stride):
    """Return the view ``(n, oh, ow, c, kernel*kernel)`` of every window, row-major inside it."""
    if x.ndim != 4:
        raise TesseraError(f"max pooling takes an NHWC batch (4-D), not {x.ndim}-D {x.shape}")
    oh = pool_output_size(x.shape[1], kernel, stride)
    ow = pool_output_size(x.shape[2], kernel, stride)
    view = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(1, 2))
    view = view[:, : stride * (oh - 1) + 1 : stride, : stride * (ow - 1) + 1 : stride]
    return view.reshape(*view.shape[:4], kernel * kernel)


def max_pool(x, kernel, stride):
    """Return the max pooling of the NHWC batch ``x``: shape ``(n, OH, OW, C)``, ``x``'s dtype.

    Parameters
    ----------
    x : array_like, shape (n, H, W, C)
    kernel : int
        Side of the square window.
    stride : int
        Step of the window on both axes.

    Raises
    ------
    TesseraError
        If ``x`` is not 4-D or the window does not fit (see :func:`pool_output_size`).
    """
    return _windows(np.asarray(x), kernel, stride).max(axis=-1)


def max_pool_backward(x, grad, kernel, stride):
    """Return the gradient with respect to ``x`` of :func:`max_pool`, given the output gradient.

    Each output's gradient goes to the first maximum of its window; shape and float dtype of ``x``.
    """
    x = np.asarray(x)
    where = _windows(x, kernel, stride).argmax(axis=-1)  # (n, oh, ow, c)
    grad = np.asarray(grad, dtype=np.float64).reshape(where.shape)
    _, oh, ow, _ = where.shape
    out = np.zeros(x.shape, dtype=np.float64)
    for i in range(kernel):
        for j in range(kernel):
            hit = where == i * kernel + j
            out[:, i : i + stride * oh : stride, j : j + stride * ow : stride] += grad * hit
    return out
