"""Magnitude pruning with masks (Deep Compression, section 2; Han et al., NIPS 2015).

A *mask* is a boolean array of the weight's shape, True where the weight is kept. Pruning is
monotone: a weight pruned once stays pruned, the mask of a later step is a subset of the earlier
one, and the training loop multiplies both the weights and their gradients by the mask, so pruned
weights stay exactly zero through retraining.

Iterative pruning (Han et al.) reaches high sparsity without accuracy loss by alternating: prune a
little more, retrain the survivors, repeat. :func:`schedule` gives the per-step sparsities.
"""

import numpy as np

from .errors import TesseraError, check_int

__all__ = ["apply_mask", "magnitude_mask", "schedule", "sparsity"]


def _check_fraction(value, name="sparsity"):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TesseraError(f"{name} must be a number in [0, 1), not {value!r}")
    if not 0 <= value < 1:
        raise TesseraError(f"{name} must be in [0, 1), not {value}")
    return float(value)


def magnitude_mask(weights, target, *, mask=None):
    """Return the mask that prunes the fraction ``target`` of the weights with the smallest |w|.

    Exactly ``round(target * size)`` weights are pruned (ties broken by position, so the result is
    deterministic). Weights already pruned by ``mask`` are pruned first, so the new mask is a
    subset of ``mask`` whenever ``target`` is at least the current sparsity.

    Parameters
    ----------
    weights : array_like of float
    target : float
        Fraction of weights to prune, in [0, 1).
    mask : array_like of bool or None
        The current mask (True = kept).

    Returns
    -------
    numpy.ndarray of bool, the weights' shape

    Raises
    ------
    TesseraError
        If ``target`` is outside [0, 1) or the mask's shape differs.
    """
    target = _check_fraction(target)
    weights = np.asarray(weights, dtype=np.float64)
    magnitude = np.abs(weights).ravel()
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != weights.shape:
            raise TesseraError(f"mask shape {mask.shape} differs from weights {weights.shape}")
        magnitude = np.where(mask.ravel(), magnitude, -1.0)
    n_prune = round(target * magnitude.size)
    keep = np.ones(magnitude.size, dtype=bool)
    keep[np.argsort(magnitude, kind="stable")[:n_prune]] = False
    keep = keep.reshape(weights.shape)
    return keep if mask is None else keep & mask


def apply_mask(weights, mask):
    """Return ``weights * mask`` (pruned weights become exactly 0.0)."""
    return np.where(mask, weights, 0.0)


def sparsity(mask):
    """Return the fraction of weights a mask prunes."""
    mask = np.asarray(mask, dtype=bool)
    return 1.0 - np.count_nonzero(mask) / mask.size if mask.size else 0.0


def schedule(target, steps, *, start=0.0):
    """Return ``steps`` increasing sparsities from ``start`` to ``target``, cubic in the step.

    ``s_t = target + (start - target) * (1 - t / steps) ** 3`` for ``t = 1 .. steps``: large
    steps first, while many redundant weights remain, small steps near the target (Zhu and
    Gupta's gradual schedule, a smooth form of Han et al.'s iterative pruning).
    """
    target = _check_fraction(target, "target sparsity")
    steps = check_int(steps, "steps", 1, None)
    t = np.arange(1, steps + 1) / steps
    return [float(s) for s in target + (start - target) * (1 - t) ** 3]
