"""`tessera compress` and `tessera inspect`: output, JSON keys, model files and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tessera.sim.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("models")
    old = os.environ.get("TESSERA_MODEL_CACHE")
    os.environ["TESSERA_MODEL_CACHE"] = str(path)
    yield path
    if old is None:
        del os.environ["TESSERA_MODEL_CACHE"]
    else:
        os.environ["TESSERA_MODEL_CACHE"] = old


def tessera(*args, cache):
    env = dict(os.environ, TESSERA_MODEL_CACHE=str(cache))
    env.pop("TESSERA_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "tessera.sim.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def compressed(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "mlp.npz"
    proc = tessera("compress", "--model", "mlp", "--json", "-o", str(out), cache=cache)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_compress_json_has_the_issue_keys(compressed):
    out, summary = compressed
    for key in ("ratio", "ratio_no_huffman", "ratio_all_in", "accuracy_float", "accuracy_int8",
                "accuracy_compressed", "layers"):
        assert key in summary, key
    assert summary["ratio"] >= 40 and summary["ratio"] > summary["ratio_no_huffman"]
    assert summary["accuracy_float"] - summary["accuracy_compressed"] <= 0.005
    assert [layer["name"] for layer in summary["layers"]] == ["fc1", "fc2", "fc3"]
    assert summary["output"] == str(out) and out.exists()


def test_compress_prints_the_table(cache, tmp_path):
    proc = tessera("compress", "--prune", "fc3=0.5", "--bits", "4", cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert "Layer" in proc.stdout and "P+Q+H" in proc.stdout and "fc3" in proc.stdout
    assert "Test accuracy: float" in proc.stdout and "Energy per inference" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_inspect_reads_the_file(compressed, cache):
    out, summary = compressed
    proc = tessera("inspect", str(out), "--json", cache=cache)
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["ratio"] == pytest.approx(summary["ratio"])
    assert again["accuracy_compressed"] == summary["accuracy_compressed"]
    text = tessera("inspect", str(out), cache=cache)
    assert text.returncode == 0 and "fc2" in text.stdout


def run_main(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--prune", "1.5"), "prune fraction must be in [0, 1), not 1.5"),
        (("--prune", "-0.1"), "prune fraction must be in [0, 1), not -0.1"),
        (("--prune", "0.9,0.9"), "--prune: need 1 or 3 values (fc1, fc2, fc3), not 2"),
        (("--prune", "fc9=0.5"), "--prune: unknown layer 'fc9'"),
        (("--bits", "9"), "bits must be between 1 and 8, not 9"),
        (("--bits", "0"), "bits must be between 1 and 8, not 0"),
        (("--bits", "four"), "bits must be an integer, not 'four'"),
        (("--rel-bits", "9"), "rel_bits must be between 1 and 8, not 9"),
        (("--pes", "0"), "n_pes must be between 1 and 4096, not 0"),
    ],
)
def test_compress_bad_options(capsys, argv, message, cache):
    code, err = run_main(capsys, "compress", *argv)
    assert code == 2
    assert err.startswith("tessera compress: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_model_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", "--model", "resnet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'resnet'" in err and err.count("\n") == 1


def test_layer_that_cannot_be_encoded(capsys, cache):
    code, err = run_main(capsys, "compress", "--pes", "1", "--ptr-bits", "8")
    assert code == 2
    # progress lines come first; the error is the last line, and the only one
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == [err.splitlines()[-1]]
    assert errors[0].startswith("tessera compress: error: layer fc1: PE 0 holds ")
    assert "more than 8-bit column pointers" in errors[0] and "Traceback" not in err


def test_inspect_bad_files(capsys, compressed, tmp_path):
    good, _ = compressed
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:500])
    with np.load(good) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta"].tobytes())
    other = tmp_path / "other.npz"
    with open(other, "wb") as f:
        np.savez(f, **(arrays | {"meta": np.frombuffer(
            json.dumps(meta | {"version": 7}).encode(), dtype=np.uint8)}))
    del meta["layers"][0]["kind"]
    nofield = tmp_path / "nofield.npz"
    with open(nofield, "wb") as f:
        np.savez(f, **(arrays | {"meta": np.frombuffer(json.dumps(meta).encode(),
                                                       dtype=np.uint8)}))
    cases = [
        (tmp_path / "missing.npz", "no such model file"),
        (truncated, "is not a readable model file (corrupt or truncated"),
        (other, "has model format version 7; this tessera reads versions 1 and 2"),
        (nofield, "missing the field layers[0].'kind'"),
    ]
    for path, message in cases:
        code, err = run_main(capsys, "inspect", str(path))
        assert code == 2, path
        assert err.startswith("tessera inspect: error: ") and message in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
