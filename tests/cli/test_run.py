"""`tessera run`: a compressed model on the simulated system, checked against golden."""

import json

import numpy as np
import pytest
from tessera.sim.cli import main


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory, model_cache, digits):
    from tessera.golden.modelfile import save
    from tessera.golden.pipeline import compress

    result = compress("cnn", 0, data=digits, cache_dir=model_cache)
    path = tmp_path_factory.mktemp("run") / "cnn.npz"
    save(path, result.model, info={"settings": {"split_seed": 0, "test_fraction": 0.3}})
    return path, result.model


def test_run_the_cnn_on_the_system(cnn_file, digits, capsys):
    path, model = cnn_file
    assert main(["run", str(path), "--digits", "2", "--sim", "icarus", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matches_golden"] and out["cycles_match"] and out["errors"] == 0
    x = model.quantize_input(digits.x_test[:2])
    from tessera.golden.inference import run_int8

    assert out["predictions"] == np.asarray(run_int8(model, x)).argmax(axis=1).tolist()
    assert {layer["name"]: layer["engine"] for layer in out["layers"]} == {
        layer.name: "systolic" if layer.kind == "conv" else "sparse" for layer in model.layers}
    assert len(out["cycles"]) == 2 and all(layer["cycles"] > 0 for layer in out["layers"])
    assert 0 <= out["accuracy"] <= 1


def test_run_refuses_an_input_of_the_wrong_shape(cnn_file, tmp_path, capsys):
    path, _ = cnn_file
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 7), dtype=np.int8))
    assert main(["run", str(path), "--input", str(x), "--sim", "icarus"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "X must have shape (8, 8, 1)" in err, err
