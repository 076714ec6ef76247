"""`tessera compress --onnx`, `tessera export`; each bad input is one line and exit status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from tessera.golden.modelfile import load
from tessera.golden.onnx import export_float
from tessera.golden.pipeline import train_float
from tessera.sim.cli import main

from tests.golden import onnx_models as zoo

ort = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]


def tessera(capsys, *args):
    """Run the CLI in-process; return (status, stdout, stderr)."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits_all):
    """The trained built-in MLP as ONNX, and data files in its input layout."""
    root = tmp_path_factory.mktemp("onnx")
    net, _ = train_float("mlp", 0, cache_dir=root / "cache")
    onnx.save_model(export_float(net), root / "mlp.onnx")
    x, y = digits_all
    np.savez(root / "digits.npz", x=x.astype(np.float32), y=y)
    np.savez(root / "digits_x.npz", x=x.astype(np.float32))
    np.savez(root / "wrong_shape.npz", x=x[:, :63].astype(np.float32), y=y)
    np.savez(root / "bad_labels.npz", x=x.astype(np.float32), y=y + 5)
    return root


@pytest.fixture(scope="module")
def digits_all():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data / 16.0, data.target


@pytest.fixture(scope="module")
def compressed(files):
    """`tessera compress --onnx mlp.onnx --data digits.npz --json -o mlp.npz` (run once)."""
    out = files / "mlp.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "tessera.sim.cli", "compress", "--onnx", files / "mlp.onnx",
         "--data", files / "digits.npz", "--json", "-o", out],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={k: v for k, v in os.environ.items() if k != "TESSERA_DEBUG"})
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_compress_onnx_with_labels(compressed):
    out, summary = compressed
    assert [layer["name"] for layer in summary["layers"]] == ["fc1", "fc2", "fc3"]
    assert summary["ratio"] >= 20
    # Held-out accuracy (the same split as the built-in MLP's: seed 0, 30 %).
    assert summary["accuracy_float"] >= 0.96
    assert summary["accuracy_float"] - summary["accuracy_compressed"] <= 0.01
    assert summary["settings"]["source"] == "onnx" and summary["settings"]["accuracy_measured"]
    model, info = load(out)
    assert info["accuracy_compressed"] == summary["accuracy_compressed"]
    assert model.compressed and model.name == "mlp"


def test_inspect_an_onnx_model_file(compressed, capsys):
    out, summary = compressed
    status, stdout, _ = tessera(capsys, "inspect", out, "--json")
    assert status == 0
    report = json.loads(stdout)
    assert report["accuracy_compressed"] == summary["accuracy_compressed"]
    assert report["ratio"] == pytest.approx(summary["ratio"])


def test_export_runs_in_onnxruntime(compressed, files, capsys, digits_all):
    out, _ = compressed
    status, stdout, _ = tessera(capsys, "export", out, "-o", files / "mlp_int8.onnx")
    assert status == 0 and "wrote" in stdout
    model, _ = load(out)
    sess = ort.InferenceSession(str(files / "mlp_int8.onnx"),
                                providers=["CPUExecutionProvider"])
    x, _ = digits_all
    logits_int8, logits = sess.run(["logits_int8", "logits"], {"input": x.astype(np.float32)})
    ours = model.run(model.quantize_input(x))
    # Equal except where a rounding tie falls differently (tests/golden/test_onnx.py checks
    # which): the argmax agrees everywhere here.
    assert np.mean(np.all(ours == logits_int8, axis=1)) >= 0.97
    assert np.array_equal(np.argmax(ours, axis=1), np.argmax(logits_int8, axis=1))
    assert logits.dtype == np.float32


def test_compress_onnx_one_shot_without_labels(files, capsys):
    status, stdout, err = tessera(capsys, "compress", "--onnx", files / "mlp.onnx", "--data",
                                  files / "digits_x.npz", "--json")
    assert status == 0, err
    summary = json.loads(stdout)
    assert summary["accuracy_compressed"] is None and summary["accuracy_float"] is None
    assert "not measured" in summary["note"]
    assert summary["settings"]["accuracy_measured"] is False
    assert summary["ratio"] > 10
    status, stdout, err = tessera(capsys, "compress", "--onnx", files / "mlp.onnx", "--data",
                                  files / "digits_x.npz")
    assert status == 0
    assert "Accuracy not measured" in stdout and "one-shot" in err


def truncated(root):
    data = zoo.torch_like_cnn(0).SerializeToString()
    (root / "truncated.onnx").write_bytes(data[: len(data) // 2])
    return root / "truncated.onnx"


def missing_external(root):
    path = root / "external" / "model.onnx"
    path.parent.mkdir(exist_ok=True)
    onnx.save_model(zoo.torch_like_cnn(0), path, save_as_external_data=True,
                    location="model.onnx.data", size_threshold=0)
    (path.parent / "model.onnx.data").unlink()
    return path


def saved(name, build):
    def make(root):
        onnx.save_model(build(), root / name)
        return root / name
    return make


def not_onnx(root):
    (root / "notes.onnx").write_text("this is a text file\n")
    return root / "notes.onnx"


def unsupported_op():
    model = zoo.lenet(0)
    model.graph.node[1].op_type = "Tanh"
    return model


def dilated():
    model = zoo.lenet(0)
    model.graph.node[0].attribute.append(onnx.helper.make_attribute("dilations", [2, 2]))
    return model


def dynamic():
    model = zoo.lenet(0)
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_param = "W"
    return model


def huge_conv():
    b = zoo.Builder(0, [8192, 3, 3])
    b.conv(8192, 1, pad=0, bias=False).node("Flatten", axis=1).gemm(1, 2)
    return b.model([2])


BAD = {
    "not ONNX": (not_onnx, [], "notes.onnx is not an ONNX model"),
    "truncated": (truncated, [], "truncated.onnx"),
    "missing external data": (missing_external, [], "missing external-data file 'model.onnx.data'"),
    "unsupported op": (saved("tanh.onnx", unsupported_op), [], r"node 'relu2' \(Tanh\)"),
    "dilation": (saved("dilated.onnx", dilated), [], r"node 'conv1' \(Conv\): dilations"),
    "dynamic dimension": (saved("dynamic.onnx", dynamic), [], "dimension 3 is dynamic"),
    "input does not match --data": (lambda root: root / "mlp.onnx",
                                    ["--data", "wrong_shape.npz"], "wrong_shape.npz: x has shape"),
    "labels out of range": (lambda root: root / "mlp.onnx", ["--data", "bad_labels.npz"],
                            r"labels must be in \[0, 10\)"),
    "no data": (lambda root: root / "mlp.onnx", [], "needs at least x"),
    "too large for the sparse engine's pointers": (
        lambda root: root / "mlp.onnx", ["--data", "digits_x.npz", "--ptr-bits", "6", "--json"],
        "layer fc1: PE 0 holds .* more than 6-bit column pointers"),
    "too large for the systolic engine": (saved("huge.onnx", huge_conv), [],
                                          "too large for the systolic engine"),
    "both --model and --onnx": (lambda root: root / "mlp.onnx", ["--model", "cnn"],
                                "either --model or --onnx"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_with_status_2(case, files, capsys):
    import re

    make, extra, pattern = BAD[case]
    path = make(files)
    extra = [files / e if e.endswith(".npz") else e for e in extra]
    status, stdout, err = tessera(capsys, "compress", "--onnx", path, *extra)
    assert status == 2, (case, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tessera compress: error: "), err
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in err and stdout == ""


def test_bad_input_in_a_subprocess_has_no_traceback(files):
    proc = subprocess.run(
        [sys.executable, "-m", "tessera.sim.cli", "compress", "--onnx", truncated(files)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "TESSERA_DEBUG"})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_export_bad_input(files, capsys):
    status, _, err = tessera(capsys, "export", files / "missing.npz", "-o", files / "m.onnx")
    assert status == 2 and "no such model file" in err
    status, _, err = tessera(capsys, "export", files / "mlp.onnx", "-o", files / "m.onnx")
    assert status == 2
    assert "not a readable model file" in err or "not a tessera model" in err


@pytest.fixture(scope="module")
def qdq_file(files, digits_all):
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    x, _ = digits_all
    batches = iter([{"input": x[i:i + 128].astype(np.float32)} for i in range(0, 512, 128)])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(batches, None)

    quantize_static(str(files / "mlp.onnx"), str(files / "mlp_qdq.onnx"), Reader(),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True})
    return files / "mlp_qdq.onnx"


def test_compress_onnx_takes_a_qdq_model_as_quantized(qdq_file, files, capsys, digits_all):
    out = files / "qdq.npz"
    status, stdout, err = tessera(capsys, "compress", "--onnx", qdq_file, "--data",
                                  files / "digits.npz", "--json", "-o", out)
    assert status == 0, err
    summary = json.loads(stdout)
    assert summary["settings"]["source"] == "onnx-qdq"
    assert summary["accuracy_compressed"] >= 0.97
    model, _ = load(out)
    assert all(layer.bits == 8 for layer in model.layers)
    # Lossless: onnxruntime's QDQ model and the written model agree (within 1 LSB per layer,
    # tests/golden/test_onnx.py): here, on the argmax of almost every digit.
    x, _ = digits_all
    sess = ort.InferenceSession(str(qdq_file), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(None, {"input": x.astype(np.float32)})
    assert np.mean(np.argmax(logits, 1) == model.predict(x)) >= 0.99
    status, _, err = tessera(capsys, "compress", "--onnx", qdq_file, "--prune", "0.5")
    assert status == 2 and "already quantized" in err


def test_compress_onnx_refuses_an_asymmetric_qdq_model(files, capsys, digits_all):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    x, _ = digits_all
    batches = iter([{"input": x[:128].astype(np.float32)}])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(batches, None)

    quantize_static(str(files / "mlp.onnx"), str(files / "mlp_u8.onnx"), Reader(),
                    quant_format=QuantFormat.QDQ)  # the default: uint8, asymmetric
    status, stdout, err = tessera(capsys, "compress", "--onnx", files / "mlp_u8.onnx")
    assert status == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "ActivationSymmetric" in lines[0] and "node " in lines[0]
