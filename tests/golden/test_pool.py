"""The max-pool layer kind: kernel, gradient, training, int8 inference, energy and model file."""

import json

import numpy as np
import pytest
from tessera.golden.energy import PJ, compressed_int8_energy, dense_fp32_energy
from tessera.golden.errors import TesseraError
from tessera.golden.inference import QLayer, run_int8
from tessera.golden.layers import KINDS, MaxPool, kind_of
from tessera.golden.modelfile import load, save
from tessera.golden.nn import Layer, Network, _he, finetune_centroids, train
from tessera.golden.pipeline import quantize_network
from tessera.golden.pool import max_pool, max_pool_backward, pool_output_size
from tessera.golden.prune import magnitude_mask
from tessera.golden.quant import requantize
from tessera.golden.share import share_weights

from .gradcheck import assert_gradients_match

GEOMETRIES = [(2, 2), (3, 1), (3, 2), (2, 3), (1, 1), (4, 4), (5, 2)]


def _naive_pool(x, k, s):
    n, h, w, c = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = x[:, i * s : i * s + k, j * s : j * s + k].max(axis=(1, 2))
    return out


@pytest.mark.parametrize(("k", "s"), GEOMETRIES)
def test_max_pool_equals_the_window_loop(k, s):
    seed = 100 * k + s
    rng = np.random.default_rng(seed)
    for h, w in ((7, 9), (k, k + 3), (10, 10)):
        x = rng.integers(-128, 128, size=(3, h, w, 4), dtype=np.int8)
        out = max_pool(x, k, s)
        assert out.dtype == np.int8, seed
        assert out.shape == (3, (h - k) // s + 1, (w - k) // s + 1, 4), seed
        np.testing.assert_array_equal(out, _naive_pool(x, k, s), err_msg=f"seed {seed}")


def test_pool_output_size_and_refusals():
    assert pool_output_size(8, 2, 2) == 4
    assert pool_output_size(7, 2, 2) == 3  # floor: the last row is dropped
    assert pool_output_size(5, 5, 3) == 1
    assert pool_output_size(6, 3, 1) == 4
    with pytest.raises(TesseraError, match=r"^pool window 9x9 is larger than the 8-wide input; "
                                           r"use a kernel of at most 8$"):
        pool_output_size(8, 9, 1)
    with pytest.raises(TesseraError, match=r"^pool stride must be between 1 and"):
        pool_output_size(8, 2, 0)
    with pytest.raises(TesseraError, match=r"^pool kernel must be an integer, not 2.0$"):
        pool_output_size(8, 2.0, 1)
    with pytest.raises(TesseraError, match=r"^max pooling takes an NHWC batch \(4-D\), not 3-D"):
        max_pool(np.zeros((4, 4, 1)), 2, 2)
    with pytest.raises(TesseraError, match=r"larger than the 3-wide input"):
        max_pool(np.zeros((1, 8, 3, 1)), 4, 1)  # the width is the short side


@pytest.mark.parametrize(("k", "s"), GEOMETRIES)
def test_max_pool_gradient(k, s):
    """The gradient equals finite differences (distinct values) and goes to the first maximum."""
    seed = 7 * k + s
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * 7 * 8 * 3).reshape(2, 7, 8, 3).astype(np.float64) / 10
    g = rng.normal(size=max_pool(x, k, s).shape)
    grad = max_pool_backward(x, g, k, s)
    assert grad.shape == x.shape
    for _ in range(12):
        idx = tuple(int(rng.integers(d)) for d in x.shape)
        up, down = x.copy(), x.copy()
        up[idx] += 1e-4
        down[idx] -= 1e-4
        numeric = ((max_pool(up, k, s) - max_pool(down, k, s)) * g).sum() / 2e-4
        assert grad[idx] == pytest.approx(numeric, abs=1e-6), f"seed {seed} at {idx}"
    # ties: the whole gradient of a constant window goes to its first (top-left) element
    flat = np.zeros((1, 4, 4, 1))
    tie = max_pool_backward(flat, np.ones((1, 2, 2, 1)), 2, 2)
    assert tie[0, ::2, ::2, 0].tolist() == [[1, 1], [1, 1]] and tie.sum() == 4


def _pool_cnn(seed=0):
    rng = np.random.default_rng(seed)
    return Network("pool-cnn", [
        Layer("conv1", "conv", _he(rng, 8, 9), np.zeros(8), True, (8, 8, 1), 3, 1, 1),
        Layer.max_pool("pool1", (8, 8, 8), 2, 2),
        Layer("conv2", "conv", _he(rng, 16, 9 * 8), np.zeros(16), True, (4, 4, 8), 3, 1, 1),
        Layer.max_pool("pool2", (4, 4, 16), 3, 1),
        Layer("fc1", "fc", _he(rng, 10, 64), np.zeros(10), False, (64,)),
    ])


def test_kinds_are_types_that_compare_as_their_names():
    net = _pool_cnn()
    assert [layer.kind for layer in net.layers] == ["conv", "maxpool", "conv", "maxpool", "fc"]
    assert isinstance(net.layers[1].kind, MaxPool) and net.layers[1].kind is KINDS["maxpool"]
    assert kind_of("fc") is KINDS["fc"] and str(KINDS["conv"]) == "conv"
    assert [layer.kind.engine for layer in net.layers] == [
        "systolic", "pool", "systolic", "pool", "sparse"]
    assert [layer.out_shape for layer in net.layers] == [
        (8, 8, 8), (4, 4, 8), (4, 4, 16), (2, 2, 16), (10,)]
    with pytest.raises(TesseraError, match=r"^layer p: kind must be one of 'fc', 'conv', "
                                           r"'maxpool', not 'avgpool'$"):
        Layer("p", "avgpool", None, None, False, (4, 4, 1))
    with pytest.raises(TesseraError, match=r"^layer p: pool window 5x5 is larger than the "
                                           r"4-wide input"):
        Layer.max_pool("p", (4, 4, 1), 5, 1)
    with pytest.raises(TesseraError, match=r"^layer p: a maxpool layer needs an \(H, W, C\) "
                                           r"in_shape, not \(16,\)$"):
        QLayer.max_pool("p", (16,), 2, 2)


def test_network_with_pooling_gradients_match_finite_differences(digits):
    net = _pool_cnn(3)
    x, y = digits.x_train[:5], digits.y_train[:5]
    grads = assert_gradients_match(net, x, y, samples=4)
    assert grads[1] is None and grads[3] is None


@pytest.fixture(scope="module")
def pool_models(digits):
    """A pooled CNN trained, pruned with retraining, shared and fine-tuned, then quantized."""
    x, y = digits.x_train, digits.y_train
    net = train(_pool_cnn(0), x, y, epochs=5, lr=3e-3, seed=0)
    masks = [magnitude_mask(layer.weight, 0.5) if layer.kind.weighted else None
             for layer in net.layers]
    train(net, x, y, epochs=1, seed=1, masks=masks)
    for layer, mask in zip(net.layers, masks):
        if mask is not None:
            assert np.all(layer.weight[~mask] == 0.0)
    books, idxs = [], []
    for layer, mask in zip(net.layers, masks):
        book, idx = share_weights(layer.weight, 5, mask=mask) if mask is not None else (None,
                                                                                         None)
        books.append(book)
        idxs.append(idx)
    finetune_centroids(net, books, idxs, x, y, epochs=1, lr=1e-3)
    for layer, book, idx in zip(net.layers, books, idxs):
        if book is not None:
            np.testing.assert_array_equal(layer.weight, book[idx])
    model = quantize_network(net, x, codebooks=books, indices=idxs)
    return net, model


def test_pooled_cnn_trains_and_runs_in_integers(pool_models, digits):
    net, model = pool_models
    assert net.accuracy(digits.x_test, digits.y_test) > 0.85
    assert model.compressed
    assert [q.engine for q in model.layers] == ["systolic", "pool", "systolic", "pool", "sparse"]
    assert model.layers[1].output_scale == model.layers[0].output_scale  # max keeps the scale
    x_q = model.quantize_input(digits.x_test[:20])
    logits, trace = run_int8(model, x_q, trace=True)
    for i, layer in enumerate(model.layers):
        if layer.kind == "maxpool":
            assert trace.accumulators[i] is None
            np.testing.assert_array_equal(trace.outputs[i],
                                          _naive_pool(trace.outputs[i - 1], layer.kernel,
                                                      layer.stride), strict=True)
            # pooling the int8 map equals requantizing the pooled accumulators (monotone)
            prev = model.layers[i - 1]
            pooled_acc = _naive_pool(trace.accumulators[i - 1], layer.kernel, layer.stride)
            np.testing.assert_array_equal(
                trace.outputs[i],
                requantize(pooled_acc, prev.bias, prev.multiplier, prev.shift, prev.relu))
    assert logits.shape == (20, 10)
    assert model.accuracy(digits.x_test, digits.y_test) >= net.accuracy(
        digits.x_test, digits.y_test) - 0.03


def test_pool_energy_counts(pool_models, digits):
    _, model = pool_models
    x_q = model.quantize_input(digits.x_test[:10])
    dense, dparts = dense_fp32_energy(model)
    comp, cparts = compressed_int8_energy(model, x_q)
    without = type(model)(model.name, model.input_shape, model.input_scale, [], model.n_pes)
    pools = [q for q in model.layers if q.kind == "maxpool"]
    compares = sum(int(np.prod(q.out_shape)) * (q.kernel**2 - 1) for q in pools)
    assert compares == 4 * 4 * 8 * 3 + 2 * 2 * 16 * 8
    traffic = sum(int(np.prod(q.in_shape)) + int(np.prod(q.out_shape)) for q in pools)
    weighted = [q for q in model.layers if q.kind.weighted]
    without.layers = weighted  # the same layers without pooling (shapes unchecked by energy)
    _, dparts0 = dense_fp32_energy(without)
    assert dparts["arithmetic"] == pytest.approx(dparts0["arithmetic"] + compares * PJ["fadd32"])
    assert dparts["activations (SRAM)"] == pytest.approx(
        dparts0["activations (SRAM)"] + traffic * PJ["sram32"])
    assert dparts["weights (DRAM)"] == dparts0["weights (DRAM)"]
    assert cparts["arithmetic"] > compares * PJ["add8"] and comp < dense / 50


def test_model_file_with_pooling(pool_models, digits, tmp_path):
    _, model = pool_models
    path = tmp_path / "pool.npz"
    save(path, model)
    with np.load(path) as f:
        meta = json.loads(f["meta"].tobytes())
        assert not any(key.startswith("pool1.") for key in f.files)
    assert meta["version"] == 2
    assert meta["layers"][1] == {"name": "pool1", "kind": "maxpool", "in_shape": [8, 8, 8],
                                 "kernel": 2, "stride": 2, "engine": "pool",
                                 "output_scale": model.layers[1].output_scale}
    again, _ = load(path)
    assert [q.kind for q in again.layers] == [q.kind for q in model.layers]
    x_q = model.quantize_input(digits.x_test)
    np.testing.assert_array_equal(again.run(x_q), model.run(x_q), strict=True)
    # a pool layer in a version-1 file is refused: version 1 had no such kind
    meta["version"] = 1
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    old = tmp_path / "v1.npz"
    with open(old, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(TesseraError, match=r"layer pool1: kind 'maxpool' needs model format "
                                           r"version 2, but the file says 1$"):
        load(old)


def test_model_without_pooling_is_still_version_1(mlp_result, tmp_path):
    path = tmp_path / "mlp.npz"
    save(path, mlp_result.model)
    with np.load(path) as f:
        assert json.loads(f["meta"].tobytes())["version"] == 1


def test_compress_pipeline_prunes_and_shares_a_pooled_cnn(digits, tmp_path, monkeypatch):
    """The whole Deep Compression pipeline on a CNN with pooling, registered as a model."""
    from tessera.golden.pipeline import (
        MODELS,
        CompressionConfig,
        ModelSpec,
        TrainingConfig,
        compress,
    )
    from tessera.golden.report import render, summarize

    spec = ModelSpec(_pool_cnn, ("conv1", "conv2", "fc1"), prune=(0.3, 0.5, 0.7), bits=(6, 6, 4),
                     training=TrainingConfig(epochs=4, lr=3e-3),
                     compression=CompressionConfig(prune_steps=2, retrain_epochs=1,
                                                   finetune_epochs=1))
    monkeypatch.setitem(MODELS, "pooled", spec)
    r = compress("pooled", 0, data=digits, cache_dir=tmp_path)
    again = compress("pooled", 0, data=digits, cache_dir=tmp_path)  # from the float cache
    assert again.cached and again.accuracy_float == r.accuracy_float
    model = r.model
    assert [q.kind for q in model.layers] == ["conv", "maxpool", "conv", "maxpool", "fc"]
    assert model.compressed and model.layers[1].codebook is None
    for q, prune in zip((q for q in model.layers if q.kind.weighted), (0.3, 0.5, 0.7)):
        assert np.count_nonzero(q.weight) <= round((1 - prune) * q.weight.size) + 1
        np.testing.assert_array_equal(q.weight, q.codebook[q.indices])
    assert r.accuracy_compressed > 0.8
    summary = summarize(model, accuracies={"compressed": r.accuracy_compressed}, data=digits)
    assert [s["name"] for s in summary["layers"]] == ["conv1", "conv2", "fc1"]
    assert "pool" not in render(model, summary)
    path = tmp_path / "pooled.npz"
    save(path, model)
    loaded, _ = load(path)
    x_q = model.quantize_input(digits.x_test)
    np.testing.assert_array_equal(loaded.run(x_q), model.run(x_q), strict=True)
