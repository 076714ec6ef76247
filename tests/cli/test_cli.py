"""The `tessera` tool itself: help, version, one-line errors, `tessera verilog`, `tessera sim`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tessera.sim.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def tessera(*args, cwd=ROOT):
    env = dict(os.environ)
    env.pop("TESSERA_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "tessera.sim.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_lists_every_subcommand():
    proc = tessera("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout


def test_version():
    proc = tessera("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("tessera 0.")


@pytest.mark.parametrize(("args", "fragments"), [
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ([], ["required: COMMAND"]),
    (["sim", "--no-such-option"], ["unrecognized arguments: --no-such-option"]),
    (["verilog", "pe", "--acc-width", "x", "-o", "a.v"], ["invalid int value: 'x'"]),
    (["verilog", "pe"], ["-o/--output"]),
    (["verilog", "nosuchtop", "-o", "a.v"], ["invalid choice: 'nosuchtop'"]),
    (["sim", "--sim", "modelsim"], ["invalid choice: 'modelsim'"]),
])
def test_bad_command_lines_give_one_line_errors(args, fragments):
    assert_one_line_error(tessera(*args), *fragments)


def test_bad_parameter_is_a_one_line_error(tmp_path):
    proc = tessera("verilog", "pe", "--acc-width", "8", "-o", str(tmp_path / "pe.v"))
    assert_one_line_error(proc, "tessera verilog: error:", "acc_width must be between 16 and 64")
    assert not (tmp_path / "pe.v").exists()


def test_verilog_writes_a_named_module(tmp_path):
    proc = tessera("verilog", "pe", "--acc-width", "24", "-o", str(tmp_path / "pe.v"))
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "pe.v").read_text()
    assert "module tessera_pe(" in text and "[23:0] acc" in text


def test_verilog_all_writes_every_top(tmp_path):
    proc = tessera("verilog", "all", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    from tessera.sim.tops import TOPS

    assert sorted(p.stem for p in tmp_path.glob("*.v")) == sorted(TOPS)


def test_sim_demo_runs_and_matches():
    """The whole `make sim` demo on Icarus: every section present and exact."""
    proc = tessera("sim", "--sim", "icarus")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "Test accuracy: float 98.15%" in text                         # compression
    assert "[GEMM]" in text and "matched NumPy: 1728/1728" in text       # systolic array
    assert "[PE]" not in text and "[CONV]" not in text                   # the system shows them
    assert "logits match golden run_int8: 12/12" in text                 # sparse array
    assert "counters match the golden cycle model: 36/36 layers" in text
    assert "[System]" in text                                            # the system top
    assert text.count("logits bit-exact against run_int8: True; cycles equal to the golden "
                      "executor: True") == 2, text
    assert "PASS" in text


def test_closed_pipe_is_not_an_error():
    reader = subprocess.Popen([sys.executable, "-m", "tessera.sim.cli", "--help"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # nobody reads: the tool's writes hit a closed pipe
    _, err = reader.communicate(timeout=60)
    assert b"Traceback" not in err and b"error" not in err
