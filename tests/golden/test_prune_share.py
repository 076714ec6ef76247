"""Pruning masks and weight sharing: k-means keeps zeros at zero; codebooks are integers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tessera.golden.errors import TesseraError
from tessera.golden.prune import apply_mask, magnitude_mask, schedule, sparsity
from tessera.golden.share import centroid_gradients, kmeans_1d, quantize_codebook, share_weights


def test_magnitude_mask_prunes_the_smallest_exactly():
    w = np.array([[0.5, -0.1, 0.3], [-0.9, 0.05, 0.2]])
    mask = magnitude_mask(w, 0.5)
    np.testing.assert_array_equal(mask, [[True, False, True], [True, False, False]])
    assert sparsity(mask) == 0.5
    np.testing.assert_array_equal(apply_mask(w, mask)[~mask], 0.0)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, (6, 7), elements=st.floats(-1, 1)), st.floats(0, 0.5),
       st.floats(0, 0.45))
def test_masks_are_monotone(w, first, extra):
    m1 = magnitude_mask(w, first)
    m2 = magnitude_mask(np.where(m1, w, 0.0) * 3.0 - 0.01, first + extra, mask=m1)
    assert not np.any(m2 & ~m1)  # once pruned, always pruned
    assert sparsity(m2) == pytest.approx(round((first + extra) * w.size) / w.size)


def test_prune_fraction_and_schedule_validation():
    with pytest.raises(TesseraError, match=r"^sparsity must be in \[0, 1\), not 1.0$"):
        magnitude_mask(np.ones(3), 1.0)
    with pytest.raises(TesseraError, match=r"^sparsity must be in \[0, 1\), not -0.1$"):
        magnitude_mask(np.ones(3), -0.1)
    steps = schedule(0.9, 4)
    assert steps[-1] == pytest.approx(0.9) and steps == sorted(steps)
    assert np.all(np.diff([0.0, *steps]) > 0)


def test_kmeans_linear_init_finds_separated_clusters():
    values = np.r_[np.full(10, -1.0), np.full(5, 0.2), np.full(7, 3.0)]
    centroids, labels = kmeans_1d(values, 3)
    np.testing.assert_allclose(centroids, [-1.0, 0.2, 3.0])
    np.testing.assert_array_equal(labels, np.r_[np.zeros(10), np.ones(5), np.full(7, 2)])
    for init in ("density", "random"):
        c, _ = kmeans_1d(values, 3, init=init, seed=1)
        assert np.all(np.diff(c) >= 0)
    with pytest.raises(TesseraError, match=r"^init must be"):
        kmeans_1d(values, 3, init="kmeans++")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.floats(0, 0.9), st.integers(0, 2**32 - 1))
def test_sharing_keeps_zeros_at_zero_and_uses_the_codebook(bits, prune, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(12, 20))
    mask = magnitude_mask(w, prune)
    w = np.where(mask, w, 0.0)
    codebook, idx = share_weights(w, bits, mask=mask)
    assert codebook.shape == (2**bits,) and codebook[0] == 0.0
    np.testing.assert_array_equal(idx == 0, ~mask)  # zeros and only zeros are index 0
    assert idx.max() < 2**bits
    # every shared weight is its centroid, and the centroid is the nearest one
    shared = codebook[idx]
    nearest = np.abs(w[mask][:, None] - codebook[1:][None, :]).min(axis=1)
    np.testing.assert_allclose(np.abs(shared[mask] - w[mask]), nearest, atol=1e-12)
    ints, scale = quantize_codebook(codebook)
    assert ints.dtype == np.int8 and ints[0] == 0 and np.abs(ints).max() == 127
    np.testing.assert_allclose(ints * scale, codebook, atol=scale / 2 + 1e-12)


def test_centroid_gradients_group_by_index():
    g = centroid_gradients(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 1, 1, 2]), 4)
    np.testing.assert_array_equal(g, [0.0, 5.0, 4.0, 0.0])


def test_bits_out_of_range():
    for bits in (0, 9):
        with pytest.raises(TesseraError, match=rf"^bits must be between 1 and 8, not {bits}$"):
            share_weights(np.ones(3), bits)
