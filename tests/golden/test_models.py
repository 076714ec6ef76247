"""Data, NumPy training, quantization of a network and the integer inference spec."""

import numpy as np
import pytest
from tessera.golden.data import load_digits_split
from tessera.golden.eie import spmv
from tessera.golden.errors import TesseraError
from tessera.golden.gemm import conv2d_int8
from tessera.golden.inference import run_int8
from tessera.golden.nn import cnn, finetune_centroids, mlp, train
from tessera.golden.pipeline import quantize_network
from tessera.golden.prune import magnitude_mask
from tessera.golden.quant import requantize
from tessera.golden.share import share_weights

from .gradcheck import assert_gradients_match


def test_digits_split_is_stratified_and_seeded(digits):
    assert digits.x_train.shape == (1257, 64) and digits.x_test.shape == (540, 64)
    assert digits.x_train.min() >= 0 and digits.x_train.max() <= 1
    counts = np.bincount(digits.y_test, minlength=10)
    assert counts.min() >= 52 and counts.max() <= 56  # ~30% of each class
    again = load_digits_split(0)
    np.testing.assert_array_equal(again.x_test, digits.x_test)
    assert not np.array_equal(load_digits_split(1).y_test, digits.y_test)
    with pytest.raises(TesseraError, match=r"^test_fraction must be in \(0, 1\)"):
        load_digits_split(0, 1.0)


@pytest.mark.parametrize("make", [mlp, cnn])
def test_gradients_match_finite_differences(make, digits):
    net = make(3)
    x, y = digits.x_train[:6], digits.y_train[:6]
    assert_gradients_match(net, x, y, samples=3)


def test_training_is_deterministic_and_masks_hold(digits):
    x, y = digits.x_train[:200], digits.y_train[:200]
    a = train(cnn(1), x, y, epochs=2, seed=5)
    b = train(cnn(1), x, y, epochs=2, seed=5)
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weight, lb.weight)
    masks = [magnitude_mask(layer.weight, 0.5) for layer in a.layers]
    train(a, x, y, epochs=2, seed=6, masks=masks)
    for layer, mask in zip(a.layers, masks):
        assert np.all(layer.weight[~mask] == 0.0)
        assert np.all(layer.weight[mask] != 0.0)


def test_centroid_finetuning_keeps_sharing(digits):
    x, y = digits.x_train[:200], digits.y_train[:200]
    net = train(mlp(2), x, y, epochs=2, seed=0)
    books, idxs = [], []
    for layer in net.layers:
        mask = magnitude_mask(layer.weight, 0.8)
        book, idx = share_weights(np.where(mask, layer.weight, 0.0), 3, mask=mask)
        books.append(book)
        idxs.append(idx)
    before = [b.copy() for b in books]
    finetune_centroids(net, books, idxs, x, y, epochs=2, lr=1e-3)
    for layer, book, idx, old in zip(net.layers, books, idxs, before):
        assert book[0] == 0.0 and not np.array_equal(book, old)
        np.testing.assert_array_equal(layer.weight, book[idx])


@pytest.fixture(scope="module")
def small_cnn(digits):
    net = train(cnn(0), digits.x_train, digits.y_train, epochs=3, seed=0)
    return net, quantize_network(net, digits.x_train)


def test_integer_inference_follows_the_layer_contract(small_cnn, digits):
    net, model = small_cnn
    x_q = model.quantize_input(digits.x_test[:16])
    assert x_q.dtype == np.int8 and x_q.shape == (16, 8, 8, 1)
    logits, trace = run_int8(model, x_q, trace=True)
    x = x_q
    for layer, acc, out in zip(model.layers, trace.accumulators, trace.outputs):
        if layer.kind == "conv":
            kernel = layer.weight.reshape(layer.weight.shape[0], layer.kernel, layer.kernel, -1)
            expected = conv2d_int8(x, kernel, stride=layer.stride, padding=layer.padding)
        else:
            expected = x.reshape(len(x), -1).astype(np.int64) @ layer.weight.T.astype(np.int64)
        np.testing.assert_array_equal(acc, expected.astype(np.int32), strict=True)
        np.testing.assert_array_equal(
            out, requantize(expected, layer.bias, layer.multiplier, layer.shift, layer.relu),
            strict=True)
        x = out
    np.testing.assert_array_equal(logits, x.reshape(16, -1))
    # the int8 model tracks the float model
    assert model.accuracy(digits.x_test, digits.y_test) >= net.accuracy(
        digits.x_test, digits.y_test) - 0.02


def test_run_int8_rejects_bad_input(small_cnn):
    _, model = small_cnn
    with pytest.raises(TesseraError, match=r"^integer inference takes int8 inputs, not float64$"):
        run_int8(model, np.zeros((1, 8, 8, 1)))
    with pytest.raises(TesseraError, match=r"^inputs must have shape \(n, 8, 8, 1\)"):
        run_int8(model, np.zeros((1, 64), dtype=np.int8))


def test_sparse_engine_spec_equals_dense_spec(mlp_result, digits):
    """The EIE SpMV of every FC layer gives the accumulators run_int8 computes."""
    model = mlp_result.model
    x_q = model.quantize_input(digits.x_test[:8])
    _, trace = run_int8(model, x_q, trace=True)
    for layer, inputs, acc in zip(model.layers, trace.inputs, trace.accumulators):
        matrix = model.eie(layer)
        np.testing.assert_array_equal(matrix.codebook[: len(layer.codebook)], layer.codebook)
        for n in range(len(x_q)):
            np.testing.assert_array_equal(spmv(matrix, inputs[n]).y, acc[n], strict=True)
