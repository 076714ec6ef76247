"""`tessera spmv`, `tessera verilog sparse` and the sparse section of `make sim`."""

import json
import re

import numpy as np
import pytest
from tessera.golden.eie import encode_values, spmv
from tessera.golden.quant import quantize_multiplier, requantize
from tessera.sim.cli import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spmv")
    rng = np.random.default_rng(11)
    w = (rng.random((23, 19)) < 0.3) * rng.integers(-7, 8, (23, 19))
    x = rng.integers(-128, 128, 19).astype(np.int8)
    x[rng.random(19) < 0.4] = 0
    files = {"W": w, "x": x, "many": rng.integers(-100, 100, (12, 19)),
             "x16": x.astype(np.int16), "short": x[:5], "float": w.astype(np.float32),
             "bias": rng.integers(-500, 500, 23).astype(np.int32)}
    paths = {}
    for name, array in files.items():
        paths[name] = str(folder / f"{name}.npy")
        np.save(paths[name], array)
    paths["folder"] = folder
    return paths, w, x


def tessera(*args):
    return main([str(a) for a in args])


def test_spmv_requantized_output_is_exact(inputs, capsys, tmp_path):
    paths, w, x = inputs
    out = tmp_path / "y.npy"
    assert tessera("spmv", paths["W"], paths["x"], "-o", out, "--sim", "icarus", "--pes", 3,
                   "--fifo-depth", 2, "--relu", "--bias", paths["bias"]) == 0
    text = capsys.readouterr().out
    for phrase in ("cycles:", "non-zero activations:", "entries:", "padding", "load balance:",
                   "golden: values match, cycles match"):
        assert phrase in text, text
    acc = spmv(encode_values(w, n_pes=3), x).y.astype(np.int64)
    bias = np.load(paths["bias"]).astype(np.int64)
    m, s = quantize_multiplier(127.0 / np.abs(acc + bias).max())
    y = np.load(out)
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, requantize(acc, bias, m, s, relu=True))


def test_spmv_raw_json(inputs, capsys, tmp_path):
    paths, w, x = inputs
    out = tmp_path / "y.npy"
    assert tessera("spmv", paths["W"], paths["x"], "-o", out, "--sim", "icarus", "--raw",
                   "--json") == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("cycles", "entries", "padding", "load_balance", "nonzero_activations",
                "compute_cycles", "writeback_cycles", "busy", "stall"):
        assert key in result, key
    assert result["match_values"] and result["match_cycles"]
    assert result["nonzero_activations"] == np.count_nonzero(x)
    m = encode_values(w, n_pes=4)
    assert result["entries"] == spmv(m, x).total
    assert result["cycles"] == result["compute_cycles"] + result["writeback_cycles"]
    assert 0 < result["load_balance"] <= 1
    y = np.load(out)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, w @ x.astype(np.int64))


def test_spmv_quantize_builds_a_codebook(inputs, capsys):
    paths, _, _ = inputs
    assert tessera("spmv", paths["many"], paths["x"], "--sim", "icarus", "--quantize",
                   "--json", "--bits", 3) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["quantized"] and "3-bit k-means codebook" in result["codebook"]
    assert result["match_values"] and result["match_cycles"]


def test_spmv_quantize_output_file_matches_numpy(inputs, capsys, tmp_path):
    """The written file, not the tool's own flag: the raw outputs are Wq @ x in NumPy, where Wq
    keeps W's zeros and maps every non-zero to the nearest of at most 7 k-means values."""
    from tessera.golden.share import kmeans_1d

    paths, _, x = inputs
    w = np.load(paths["many"]).astype(np.int64)
    out = tmp_path / "y.npy"
    assert tessera("spmv", paths["many"], paths["x"], "-o", out, "--sim", "icarus",
                   "--quantize", "--raw", "--bits", 3) == 0
    capsys.readouterr()
    centroids, labels = kmeans_1d(w[w != 0], 7)
    book = np.round(centroids).astype(np.int64)
    wq = np.zeros_like(w)
    wq[w != 0] = book[labels]
    distance = np.abs(w[w != 0][:, None] - book[None, :])
    assert np.all(np.abs(wq - w)[w != 0] == distance.min(axis=1)), "not the nearest value"
    assert np.unique(wq[w != 0]).size <= 7 and np.all((wq == 0) == (w == 0))
    y = np.load(out)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, wq @ x.astype(np.int64))


@pytest.mark.parametrize(("args", "message"), [
    (("many", "x"), r"W has \d+ distinct non-zero values; a 4-bit codebook holds 15 besides "
                    "the padding code 0: use more --bits or --quantize"),
    (("W", "x16"), "x must be an int8 vector, not int16"),
    (("W", "short"), r"x must have shape \(19,\) to match W's 19 columns, not \(5,\)"),
    (("float", "x"), "W must be an integer matrix, not float32"),
    (("missing", "x"), r"W \('.*missing.npy'\): no such file"),
    (("W", "x", "--pes", "0"), "--pes must be between 1 and 64, not 0"),
    (("W", "x", "--fifo-depth", "1"), "--fifo-depth must be between 2 and 64, not 1"),
    (("W", "x", "--bits", "9"), r"--bits must be in 1..8, not 9"),
    (("W", "x", "--scale", "-1"), "--scale must be a positive number"),
    (("W", "x", "--bias", "x"), "the bias must be 23 integers"),
])
def test_spmv_bad_input(inputs, capsys, args, message):
    paths, _, _ = inputs
    files = [(paths[a] if a in paths else str(paths["folder"] / f"{a}.npy")) if i < 2 else a
             for i, a in enumerate(args)]
    files = [paths[a] if a == "x" and i == 3 else f for i, (a, f) in
             enumerate(zip(args, files))]
    assert tessera("spmv", *files, "--sim", "icarus") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tessera spmv: error: "), err
    assert re.search(message, err[0]), err[0]


def test_spmv_refuses_a_matrix_too_large_for_the_memories(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.ones((300, 300), dtype=np.int8))
    np.save(tmp_path / "x.npy", np.ones(300, dtype=np.int8))
    assert tessera("spmv", tmp_path / "w.npy", tmp_path / "x.npy", "--pes", 1) == 2
    err = capsys.readouterr().err
    assert "too large for the configured memories: PE 0 needs 90,000 entries" in err


def test_verilog_sparse(tmp_path, capsys):
    out = tmp_path / "sparse.v"
    assert tessera("verilog", "sparse", "--pes", 2, "--fifo-depth", 3, "--act-depth", 16,
                   "-o", out) == 0
    text = out.read_text()
    assert "module tessera_sparse(" in text and "i__payload" in text and "o__payload" in text
    assert tessera("verilog", "sparse", "--pes", 65, "-o", out) == 2
    assert "n_pes must be between 1 and 64, not 65" in capsys.readouterr().err
