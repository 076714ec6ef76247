"""Weight sharing: 1-D k-means per layer, centroid fine-tuning and integer codebooks.

Deep Compression (section 3) clusters the surviving weights of each layer with k-means, stores one
codebook of centroids per layer and a b-bit index per weight. tessera follows it with the sparse
engine's convention: **index 0 is reserved for the value 0** (EIE's padding entry and the pruned
weights), so a b-bit codebook has ``2**b - 1`` non-zero centroids, clustered from the non-zero
weights only. A pruned weight is index 0 and stays exactly 0 through clustering, fine-tuning and
quantization.

- Initialisation is *linear* by default (centroids evenly spaced between the smallest and largest
  weight), which Deep Compression found best: it keeps centroids on the rare large weights.
  ``"density"`` (quantiles) and ``"random"`` (Forgy, seeded) are there for comparison.
- Fine-tuning: with shared weights ``w = codebook[index]``, the gradient of the loss with respect
  to centroid ``k`` is the sum of the gradients of the weights in cluster ``k``
  (:func:`centroid_gradients`); index 0 gets none.
- The hardware multiplies integers: :func:`quantize_codebook` scales the codebook to int8 with one
  symmetric per-layer scale. Zero stays code 0.
"""

import numpy as np

from .errors import TesseraError, check_int
from .quant import INT8_MAX, round_half_away

__all__ = [
    "MAX_BITS",
    "centroid_gradients",
    "kmeans_1d",
    "quantize_codebook",
    "share_weights",
]

#: Widest codebook index: 8 bits (255 non-zero centroids).
MAX_BITS = 8


def check_bits(bits):
    """Validate a codebook-index width (1..8) and return it as an int."""
    return check_int(bits, "bits", 1, MAX_BITS)


def kmeans_1d(values, k, *, init="linear", iterations=100, seed=0):
    """Cluster 1-D values into ``k`` clusters with Lloyd's algorithm.

    Parameters
    ----------
    values : array_like of float
        The data (at least one value).
    k : int
        Number of clusters, >= 1.
    init : {"linear", "density", "random"}
        Centroid initialisation: evenly spaced over [min, max]; at the quantiles
        ``(i + 0.5) / k``; or ``k`` values drawn with ``np.random.default_rng(seed)``.
    iterations : int
        Maximum Lloyd iterations (stops earlier when no label changes).
    seed : int
        Seed for ``init="random"``.

    Returns
    -------
    (centroids, labels) : (numpy.ndarray of float64, numpy.ndarray of int64)
        ``k`` centroids in increasing order and the cluster of each value. A cluster that loses
        all its members keeps its last centroid.

    Raises
    ------
    TesseraError
        On empty or non-finite data, ``k < 1`` or an unknown ``init``.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise TesseraError("k-means needs at least one value")
    if not np.all(np.isfinite(values)):
        raise TesseraError("k-means values must be finite")
    k = check_int(k, "k", 1, None)
    if init == "linear":
        centroids = np.linspace(values.min(), values.max(), k)
    elif init == "density":
        centroids = np.quantile(values, (np.arange(k) + 0.5) / k)
    elif init == "random":
        rng = np.random.default_rng(seed)
        centroids = rng.choice(values, size=k, replace=values.size < k)
    else:
        raise TesseraError(f"init must be 'linear', 'density' or 'random', not {init!r}")
    centroids = np.sort(centroids.astype(np.float64))
    labels = None
    for _ in range(iterations):
        # Nearest centroid in 1-D: compare with the midpoints of the sorted centroids.
        new = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        sums = np.bincount(labels, weights=values, minlength=k)
        counts = np.bincount(labels, minlength=k)
        centroids = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        order = np.argsort(centroids, kind="stable")
        if np.any(order != np.arange(k)):
            centroids = centroids[order]
            labels = np.argsort(order)[labels]
    return centroids, labels.astype(np.int64)


def share_weights(weights, bits, *, mask=None, init="linear", iterations=100, seed=0):
    """Cluster a layer's non-zero weights into a ``bits``-bit codebook with index 0 = zero.

    Parameters
    ----------
    weights : array_like of float
        The (pruned) weights; zeros, and weights where ``mask`` is False, become index 0.
    bits : int
        Index width, 1..8: ``2**bits - 1`` non-zero centroids.
    mask : array_like of bool or None
        Kept weights (default: the non-zero ones).
    init, iterations, seed
        As for :func:`kmeans_1d`.

    Returns
    -------
    (codebook, indices) : (numpy.ndarray of float64, numpy.ndarray of int64)
        ``codebook`` has ``2**bits`` entries, ``codebook[0] == 0.0`` and the centroids after it in
        increasing order (unused trailing entries repeat the last centroid when there are fewer
        distinct weights than centroids); ``indices`` has the weights' shape.

    Raises
    ------
    TesseraError
        If ``bits`` is outside 1..8, or the mask's shape differs.
    """
    bits = check_bits(bits)
    weights = np.asarray(weights, dtype=np.float64)
    kept = weights != 0 if mask is None else np.asarray(mask, dtype=bool) & (weights != 0)
    if kept.shape != weights.shape:
        raise TesseraError(f"mask shape {kept.shape} differs from weights {weights.shape}")
    codebook = np.zeros(2**bits, dtype=np.float64)
    indices = np.zeros(weights.shape, dtype=np.int64)
    values = weights[kept]
    if values.size:
        k = min(2**bits - 1, np.unique(values).size)
        centroids, labels = kmeans_1d(values, k, init=init, iterations=iterations, seed=seed)
        codebook[1 : k + 1] = centroids
        codebook[k + 1 :] = centroids[-1]
        indices[kept] = labels + 1
    return codebook, indices


def centroid_gradients(weight_gradients, indices, size):
    """Return the gradient of each centroid: the sum of its weights' gradients (index 0 gets 0).

    Parameters
    ----------
    weight_gradients : array_like of float
        dLoss/dw for every weight of the layer.
    indices : array_like of int
        The codebook index of every weight (same shape).
    size : int
        Codebook length.
    """
    g = np.bincount(np.asarray(indices).ravel(), weights=np.asarray(weight_gradients).ravel(),
                    minlength=size)
    g[0] = 0.0
    return g


def quantize_codebook(codebook):
    """Scale a real codebook to int8: ``(round_half_away(c / scale), scale)``.

    ``scale = max|c| / 127`` (1.0 for an all-zero codebook), so the largest centroid becomes +-127
    and ``codebook[0] == 0`` stays 0. Returns the int8 codebook and the scale.
    """
    codebook = np.asarray(codebook, dtype=np.float64)
    if codebook.ndim != 1 or codebook.size == 0 or codebook[0] != 0:
        raise TesseraError("a codebook must be 1-D and start with the reserved zero")
    peak = np.abs(codebook).max()
    scale = float(peak / INT8_MAX) if peak > 0 else 1.0
    return round_half_away(codebook / scale).astype(np.int8), scale
