"""`tessera gemm` and `tessera verilog systolic`: output, JSON keys and bad input."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tessera.sim.cli import main

ROOT = Path(__file__).resolve().parents[2]


def tessera(*args):
    return subprocess.run([sys.executable, "-m", "tessera.sim.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def operands(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gemm")
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (11, 7), dtype=np.int8)
    b = rng.integers(-128, 128, (7, 6), dtype=np.int8)
    np.save(folder / "A.npy", a)
    np.save(folder / "B.npy", b)
    np.save(folder / "float.npy", rng.random((11, 7)))
    np.save(folder / "int16.npy", a.astype(np.int16))
    np.save(folder / "cube.npy", np.zeros((2, 3, 4), np.int8))
    np.save(folder / "empty.npy", np.zeros((0, 7), np.int8))
    np.save(folder / "big.npy", np.zeros((7, 70000), np.int8))
    (folder / "text.npy").write_text("not an array")
    return folder, a, b


def test_gemm_writes_c_and_prints_json(operands, tmp_path):
    folder, a, b = operands
    out = tmp_path / "C.npy"
    proc = tessera("gemm", str(folder / "A.npy"), str(folder / "B.npy"), "-o", str(out),
                   "--sim", "icarus", "--rows", "2", "--cols", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    for key in ("cycles", "macs", "utilization", "model_cycles", "matches_golden"):
        assert key in summary, key
    assert summary["macs"] == 11 * 7 * 6 and summary["matches_golden"] is True
    assert summary["cycles"] == summary["model_cycles"]
    assert summary["utilization"] == pytest.approx(11 * 7 * 6 / (6 * summary["cycles"]), 1e-5)
    c = np.load(out)
    assert c.dtype == np.int32
    np.testing.assert_array_equal(c, a.astype(np.int32) @ b.astype(np.int32))


def test_gemm_prints_cycles_macs_utilization(operands):
    folder, _, _ = operands
    proc = tessera("gemm", str(folder / "A.npy"), str(folder / "B.npy"), "--sim", "icarus",
                   "--dataflow", "os", "--rows", "3", "--cols", "2")
    assert proc.returncode == 0, proc.stderr
    assert "cycles:" in proc.stdout and "useful MACs: 462" in proc.stdout
    assert "utilization:" in proc.stdout and "matches golden.gemm_int8: yes" in proc.stdout
    assert "output-stationary" in proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["float.npy", "B.npy"], "A must be an int8 matrix, not float64"),
    (["A.npy", "int16.npy"], "B must be an int8 matrix, not int16"),
    (["cube.npy", "B.npy"], "A must be a 2-D matrix, not 3-D"),
    (["empty.npy", "B.npy"], "A is empty"),
    (["text.npy", "B.npy"], r"A \('.*text.npy'\) is not a NumPy .npy array file"),
    (["missing.npy", "B.npy"], r"A \('.*missing.npy'\): no such file"),
    (["B.npy", "B.npy"], "cannot multiply A \\(7x6\\) by B \\(7x6\\): inner sizes differ"),
    (["A.npy", "B.npy", "--rows", "0"], "rows must be between 1 and 32, not 0"),
    (["A.npy", "B.npy", "--cols", "40"], "cols must be between 1 and 32, not 40"),
    (["A.npy", "B.npy", "--acc-width", "17"],
     "acc_width 17 is too narrow for K = 7: 7 products of -128 \\* -128 need acc_width >= 18"),
    (["A.npy", "B.npy", "--max-m", "8"], "M = 11 is larger than this configuration's "
                                         "max_m = 8: the GEMM does not fit the on-chip buffers"),
    (["A.npy", "B.npy", "--max-k", "4", "--max-n", "64"], "K = 7 is larger than"),
    (["A.npy", "big.npy"], "max_n must be between 1 and 65535, not 70000"),
    (["A.npy", "B.npy", "-o", "/dev/null/C.npy"],
     "-o: cannot write '/dev/null/C.npy': '/dev/null' is a file, not a folder"),
])
def test_gemm_bad_input_is_one_line(operands, capsys, args, message):
    folder, _, _ = operands
    argv = ["gemm", *[str(folder / x) if x.endswith(".npy") and "/" not in x else x
                      for x in args], "--sim", "icarus"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("tessera gemm: error: ")
    assert re.search(message, err), err


def test_gemm_bad_option_exits_2(operands):
    folder, _, _ = operands
    proc = tessera("gemm", str(folder / "A.npy"), str(folder / "B.npy"), "--dataflow", "rs")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_verilog_systolic(tmp_path):
    out = tmp_path / "systolic.v"
    proc = tessera("verilog", "systolic", "--rows", "2", "--cols", "3", "--dataflow", "os",
                   "--max-m", "8", "--max-k", "8", "--max-n", "8", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "module tessera_systolic" in text and "cmd__payload" in text
    bad = tessera("verilog", "systolic", "--rows", "40", "-o", str(out))
    assert bad.returncode == 2 and "rows must be between 1 and 32, not 40" in bad.stderr
