"""The Deep Compression pipeline, its accounting and energy model, and the model file."""

import json

import numpy as np
import pytest
from tessera.golden.accounting import format_table, storage
from tessera.golden.energy import PJ, compressed_int8_energy, dense_fp32_energy
from tessera.golden.errors import TesseraError
from tessera.golden.modelfile import load, save
from tessera.golden.pipeline import compress, parse_per_layer, train_float

from tests.golden.test_huffman import optimal_bits


def test_mlp_meets_the_issue_targets(mlp_result):
    """Issue 3: >= 40x as Deep Compression counts (Huffman), <= 0.5 points lost."""
    r = mlp_result
    store = storage(r.model)
    assert store.ratio >= 40
    assert r.accuracy_float - r.accuracy_compressed <= 0.005
    assert store.ratio_all_in >= 20  # reported, aimed at >= 25
    assert r.model.compressed and all(q.bits == 4 for q in r.model.layers)


def test_compressed_weights_are_pruned_and_shared(mlp_result):
    r = mlp_result
    for layer, prune in zip(r.model.layers, r.settings["prune"].values()):
        assert layer.codebook[0] == 0 and layer.codebook.dtype == np.int8
        np.testing.assert_array_equal(layer.weight, layer.codebook[layer.indices])
        kept = np.count_nonzero(layer.indices) / layer.indices.size
        assert kept == pytest.approx(1 - prune, abs=1e-3)


def test_accounting_recomputes_by_hand(mlp_result):
    model = mlp_result.model
    store = storage(model)
    layer = model.layers[1]
    m = model.eie(layer)
    s = store.layers[1]
    assert s.pq == m.n_entries * 8 + 16 * 8
    # Huffman bits from the frequencies alone (sum of merged weights), not tessera's code.
    hv = optimal_bits(np.bincount(m.v, minlength=16))
    hz = optimal_bits(np.bincount(m.z, minlength=16))
    assert s.pqh == hv + hz + 128
    width = int(np.ceil(np.log2(m.col_ptr[:, -1].max() + 1)))
    assert s.pointers == 4 * 301 * width and s.pointers_hw == 4 * 301 * 16
    assert s.biases == 100 * 32 and s.dense_weights == 30000 * 32
    dense = sum(q.weight.size for q in model.layers) * 32
    assert store.ratio == pytest.approx(dense / sum(x.pqh for x in store.layers))
    assert sum(bits for _, bits in store.breakdown()) == store.all_in_bits
    table = format_table(store, accuracies={"float": 0.98})
    assert "fc2" in table and f"{store.ratio:.1f}x" in table and "float 98.00%" in table


def test_energy_model(mlp_result, digits):
    model = mlp_result.model
    dense, parts = dense_fp32_energy(model)
    weights = sum(q.weight.size + q.bias.size for q in model.layers)
    assert parts["weights (DRAM)"] == weights * PJ["dram32"]
    assert dense == pytest.approx(sum(parts.values()))
    comp, cparts = compressed_int8_energy(model, model.quantize_input(digits.x_test[:50]))
    assert 0 < comp < dense / 100
    assert cparts["weights + pointers (SRAM)"] > cparts["arithmetic"]


def test_model_file_round_trip(mlp_result, digits, tmp_path):
    path = tmp_path / "mlp.tessera"
    save(path, mlp_result.model, info={"accuracy_float": mlp_result.accuracy_float})
    model, info = load(path)
    assert info["accuracy_float"] == mlp_result.accuracy_float
    for a, b in zip(model.layers, mlp_result.model.layers):
        np.testing.assert_array_equal(a.weight, b.weight, strict=True)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.bias, b.bias)
    x_q = model.quantize_input(digits.x_test)
    np.testing.assert_array_equal(model.run(x_q), mlp_result.model.run(x_q), strict=True)


def _rewrite(path, out, edit):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    edit(arrays)
    with open(out, "wb") as f:
        np.savez(f, **arrays)


def _edit_meta(change):
    def edit(arrays):
        meta = json.loads(arrays["meta"].tobytes())
        change(meta)
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return edit


def test_model_file_bad_input(mlp_result, tmp_path):
    good = tmp_path / "good.npz"
    save(good, mlp_result.model)
    cases = {}
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases[truncated] = r"is not a readable model file \(corrupt or truncated"
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a model at all")
    cases[garbage] = r"is not a readable model file"
    version = tmp_path / "v3.npz"
    _rewrite(good, version, _edit_meta(lambda m: m.update(version=3)))
    cases[version] = r"has model format version 3; this tessera reads versions 1 and 2$"
    foreign = tmp_path / "foreign.npz"
    _rewrite(good, foreign, _edit_meta(lambda m: m.update(format="other")))
    cases[foreign] = r"is not a tessera model file \(format 'other'\)$"
    no_field = tmp_path / "nofield.npz"
    _rewrite(good, no_field, _edit_meta(lambda m: m["layers"][1].pop("relu")))
    cases[no_field] = r"missing the field layers\[1\]\.'relu'$"
    no_array = tmp_path / "noarray.npz"
    _rewrite(good, no_array, lambda a: a.pop("fc2.bias"))
    cases[no_array] = r"missing the array 'fc2.bias'$"
    bad_ptr = tmp_path / "badptr.npz"
    _rewrite(good, bad_ptr, lambda a: a.__setitem__("fc1.col_ptr", a["fc1.col_ptr"][:, :-1]))
    cases[bad_ptr] = r"col_ptr must have shape"
    plain_npy = tmp_path / "plain.npy"
    np.save(plain_npy, np.zeros(3))
    cases[plain_npy] = r"is not a tessera model file \(not an \.npz archive\)$"
    cases[tmp_path / "missing.npz"] = r"^no such model file: "
    for path, message in cases.items():
        with pytest.raises(TesseraError, match=message):
            load(path)


def test_per_layer_settings_parsing():
    names = ("fc1", "fc2", "fc3")
    f = float
    assert parse_per_layer("0.5", names, "--prune", f) == [0.5] * 3
    assert parse_per_layer("0.1,0.2,0.3", names, "--prune", f) == [0.1, 0.2, 0.3]
    assert parse_per_layer("fc3=0.7", names, "--prune", f) == [None, None, 0.7]
    assert parse_per_layer({"fc1": 2}, names, "--bits", int) == [2, None, None]
    with pytest.raises(TesseraError, match=r"^--prune: need 1 or 3 values"):
        parse_per_layer("0.1,0.2", names, "--prune", f)
    with pytest.raises(TesseraError, match=r"^--prune: unknown layer 'fc9'; layers are fc1"):
        parse_per_layer("fc9=0.1", names, "--prune", f)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prune": 1.0}, r"^prune fraction must be in \[0, 1\), not 1$"),
        ({"prune": "x"}, r"^prune fraction must be a number, not 'x'$"),
        ({"bits": 9}, r"^bits must be between 1 and 8, not 9$"),
        ({"bits": "0,4,4"}, r"^bits must be between 1 and 8, not 0$"),
        ({"rel_bits": 0}, r"^rel_bits must be between 1 and 8, not 0$"),
        ({"model": "resnet"}, r"^unknown model 'resnet'; choose from mlp, cnn$"),
    ],
)
def test_compress_rejects_bad_settings_before_training(kwargs, message, tmp_path):
    with pytest.raises(TesseraError, match=message):
        compress(**({"model": "mlp", "cache_dir": tmp_path} | kwargs))
    assert not any(tmp_path.iterdir())  # nothing was trained


def test_unencodable_layer_is_reported(model_cache, digits):
    with pytest.raises(TesseraError, match=r"^layer fc1: PE 0 holds \d+ entries, more than 8-bit"):
        compress("mlp", 0, n_pes=1, ptr_bits=8, data=digits, cache_dir=model_cache)


def test_float_model_cache(model_cache, digits):
    a, _ = train_float("mlp", 0, data=digits, cache_dir=model_cache)
    b, cached_b = train_float("mlp", 0, data=digits, cache_dir=model_cache)
    assert cached_b
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weight, lb.weight)
    for path in model_cache.glob("mlp-seed0-*.npz"):
        path.write_bytes(b"broken")  # a broken cache entry is retrained, not an error
    c, cached_c = train_float("mlp", 0, data=digits, cache_dir=model_cache)
    assert not cached_c
    np.testing.assert_array_equal(c.layers[0].weight, a.layers[0].weight)


def test_cnn_compresses(model_cache, digits):
    r = compress("cnn", 0, data=digits, cache_dir=model_cache)
    store = storage(r.model)
    assert [q.engine for q in r.model.layers] == ["systolic", "systolic", "sparse", "sparse"]
    assert store.ratio > 20
    assert r.accuracy_compressed >= r.accuracy_float - 0.01
