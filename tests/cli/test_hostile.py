"""Hostile input to every command (issue 15): files made here, each refused in one line.

Classes: 1 files that end early, 2 sizes taken on trust, 3 values that wrap, 5 output paths,
7 Ctrl-C and a fast parser; plus pickles never loaded, random garbage never a traceback, and
the CLI's handling of simulation failures and bugs. (Class 6 and 8, the cache, are in
tests/sim/test_cache.py; the loader itself in tests/golden/test_npyfile.py.)
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tessera.sim import cli

ROOT = Path(__file__).resolve().parents[2]


def tessera(capsys, *args):
    """Run the tool in this process; return (status, stdout, stderr)."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def subprocess_tessera(*args, env=None, cwd=None, timeout=300):
    environment = {k: v for k, v in os.environ.items() if k != "TESSERA_DEBUG"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "tessera.sim.cli", *map(str, args)],
                          cwd=cwd or ROOT, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def one_line(status, err, *fragments, code=2):
    assert status == code, (status, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def header_only(shape, descr="<i1", extra=b""):
    """A .npy header that declares ``shape`` followed by ``extra`` bytes (a lie, usually)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + extra


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """Valid operands of every command, small enough that nothing is simulated here."""
    folder = tmp_path_factory.mktemp("good")
    arrays = {"A": np.ones((4, 3), np.int8), "B": np.ones((3, 2), np.int8),
              "W": np.eye(6, dtype=np.int64) * 3, "x": np.arange(6, dtype=np.int8),
              "bias": np.zeros(6, np.int32)}
    paths = {}
    for name, array in arrays.items():
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], array)
    return paths


#: (command, which argument is replaced by the hostile file, message name of that argument)
ARGUMENTS = [("gemm", "A", "A"), ("gemm", "B", "B"), ("spmv", "W", "W"), ("spmv", "x", "x"),
             ("spmv", "bias", "--bias")]


def argv(good, command, slot, path):
    files = dict(good)
    files[slot] = path
    if command == "gemm":
        return ["gemm", files["A"], files["B"]]
    args = ["spmv", files["W"], files["x"]]
    if slot == "bias":
        args += ["--bias", files["bias"]]
    return args


# -- class 1: files that end early -----------------------------------------------------------------

def truncations():
    data = npy_bytes(np.ones((6, 6), np.int8))
    return {"empty": b"", "in the magic": data[:3], "after the magic": data[:8],
            "in the header": data[:40], "one data byte short": data[:-1],
            "header, no data": data[:128]}


@pytest.mark.parametrize(("command", "slot", "name"), ARGUMENTS)
@pytest.mark.parametrize("cut", list(truncations()))
def test_a_file_that_ends_early_is_one_line(good, tmp_path, capsys, command, slot, name, cut):
    path = tmp_path / "cut.npy"
    path.write_bytes(truncations()[cut])
    status, _, err = tessera(capsys, *argv(good, command, slot, path))
    line = one_line(status, err, f"tessera {command}: error: {name} (")
    assert any(word in line for word in ("empty", "ends early", "header is missing")), line


def test_an_empty_model_file_is_one_line(tmp_path, capsys):
    for content in (b"", b"PK\x03\x04", npy_bytes(np.ones(3))[:20]):
        path = tmp_path / "model.npz"
        path.write_bytes(content)
        status, _, err = tessera(capsys, "inspect", path)
        one_line(status, err, "tessera inspect: error:", str(path))


# -- class 2: sizes taken on trust -----------------------------------------------------------------

@pytest.mark.parametrize(("command", "slot", "name"), ARGUMENTS)
@pytest.mark.parametrize("shape", [(10**6, 10**6), (2**40,), (2**31, 2**31, 4)])
def test_a_header_that_declares_too_much_is_refused_before_reading(good, tmp_path, capsys,
                                                                   command, slot, name, shape):
    path = tmp_path / "huge.npy"
    path.write_bytes(header_only(shape, extra=b"\x01" * 64))
    status, _, err = tessera(capsys, *argv(good, command, slot, path))
    one_line(status, err, f"{name} (", "ends early", f"{np.prod(shape, dtype=object):,}")


@pytest.mark.parametrize(("command", "slot", "name"), ARGUMENTS)
def test_an_honest_file_larger_than_the_memories_is_refused(good, tmp_path, capsys, command,
                                                            slot, name):
    """The file really holds what it declares, but more than the memories: refused unread."""
    budget = {"A": 4 * 4, "B": 4 * 4, "W": 2**24, "x": 2**16 - 1, "bias": 2**16 - 1}[slot]
    path = tmp_path / "big.npy"
    count = budget + 1
    path.write_bytes(header_only((count,), extra=b"\x00" * count))
    args = argv(good, command, slot, path)
    if command == "gemm":
        args += ["--max-m", 4, "--max-k", 4, "--max-n", 4]
    status, _, err = tessera(capsys, *args)
    one_line(status, err, f"{name} (", f"declares {count:,} elements",
             f"more than the {budget:,}")


def test_a_model_file_member_that_declares_too_much(tmp_path, capsys):
    """An .npz member whose header (and zip entry) claim 10**12 elements: refused unread."""
    import zipfile

    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.npy", header_only((10**12,), descr="<u1", extra=b"{}"))
    status, _, err = tessera(capsys, "inspect", path)
    one_line(status, err, "tessera inspect: error:", str(path))


# -- class 3: values that wrap -------------------------------------------------------------------

@pytest.mark.parametrize(("dtype", "value"), [
    (np.uint64, 2**64 - 1), (np.uint64, 2**63), (np.int64, 2**40), (np.int64, -(2**40)),
    (np.uint32, 2**31), (np.uint16, 40000), (np.int32, -(2**15) - 1)])
def test_weights_out_of_range_are_refused_in_their_own_dtype(good, tmp_path, capsys, dtype,
                                                             value):
    w = np.zeros((6, 6), dtype=dtype)
    w[1, 2] = value
    path = tmp_path / "w.npy"
    np.save(path, w)
    status, _, err = tessera(capsys, "spmv", path, good["x"])
    one_line(status, err, "W", "must hold values between -32768 and 32767", f"not {value}")


@pytest.mark.parametrize(("dtype", "value"), [(np.uint64, 2**64 - 1), (np.int64, 2**31),
                                              (np.uint32, 2**31), (np.int64, -(2**31) - 1)])
def test_a_bias_out_of_range_is_refused_in_its_own_dtype(good, tmp_path, capsys, dtype, value):
    bias = np.zeros(6, dtype=dtype)
    bias[3] = value
    path = tmp_path / "b.npy"
    np.save(path, bias)
    status, _, err = tessera(capsys, "spmv", good["W"], good["x"], "--bias", path)
    one_line(status, err, "the bias", f"not {value}")


# -- pickles are never loaded ----------------------------------------------------------------------

class Payload:
    """Unpickling this creates the file named by ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize(("command", "slot", "name"), ARGUMENTS)
def test_a_pickled_array_is_never_loaded(good, tmp_path, capsys, command, slot, name):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npy"
    np.save(path, np.array([Payload(str(marker)), 1], dtype=object), allow_pickle=True)
    status, _, err = tessera(capsys, *argv(good, command, slot, path))
    one_line(status, err, f"{name} (", "Python objects", "never loads pickled")
    assert not marker.exists()


def test_a_pickled_model_member_is_never_loaded(tmp_path, capsys):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([Payload(str(marker))], dtype=object))
    status, _, err = tessera(capsys, "inspect", path)
    one_line(status, err, "tessera inspect: error:", str(path))
    assert not marker.exists()


# -- random garbage: never a traceback -----------------------------------------------------------

@pytest.mark.parametrize("seed", range(16))
def test_random_bytes_and_random_cuts_are_one_line(good, tmp_path, capsys, seed):
    rng = np.random.default_rng(seed)
    valid = npy_bytes(rng.integers(-5, 5, (6, 6)).astype(np.int8))
    flipped = bytearray(valid)
    flipped[int(rng.integers(0, 128))] ^= 0xFF        # one byte of the header (not the data)
    candidates = {
        "noise": rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes(),
        "cut": valid[: int(rng.integers(0, len(valid)))],
        "flipped": bytes(flipped),
        "magic+noise": b"\x93NUMPY\x01\x00" + rng.integers(0, 256, 300, np.uint8).tobytes(),
    }
    for kind, content in candidates.items():
        path = tmp_path / f"{kind}.npy"
        path.write_bytes(content)
        for command, slot, _ in [*ARGUMENTS[::2], ("inspect", None, None)]:
            args = ["inspect", path] if command == "inspect" else argv(good, command, slot, path)
            status, _, err = tessera(capsys, *args)
            assert status == 2, (f"seed {seed}", kind, command, status, err)
            one_line(status, err, f"tessera {command}: error:")


# -- class 5: output paths -----------------------------------------------------------------------

OUTPUT_COMMANDS = {
    "gemm": lambda good: ["gemm", good["A"], good["B"], "--sim", "icarus"],
    "spmv": lambda good: ["spmv", good["W"], good["x"], "--sim", "icarus"],
    "compress": lambda good: ["compress", "--no-cache"],
    "verilog": lambda good: ["verilog", "pe"],
}


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
@pytest.mark.parametrize("case", ["a folder", "under a file", "trailing slash"])
def test_a_bad_output_path_is_refused_before_the_work(good, tmp_path, capsys, monkeypatch,
                                                      command, case):
    """Refused at once: no training, no Verilog, no simulation, nothing written."""
    monkeypatch.setenv("TESSERA_BUILD_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TESSERA_MODEL_CACHE", str(tmp_path / "models"))
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "dir").mkdir()
    target = {"a folder": tmp_path / "dir", "under a file": tmp_path / "file" / "out.npy",
              "trailing slash": f"{tmp_path / 'new'}/"}[case]
    start = time.perf_counter()
    status, _, err = tessera(capsys, *OUTPUT_COMMANDS[command](good), "-o", target)
    one_line(status, err, f"tessera {command}: error: -o:")
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "cache").exists() and not (tmp_path / "models").exists()
    assert (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder_is_refused(good, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    status, _, err = tessera(capsys, "gemm", good["A"], good["B"], "-o", locked / "c.npy")
    one_line(status, err, "not writable")


@pytest.mark.parametrize("name", ["pe.out", "pe", "deeper/still/pe.v"])
def test_verilog_writes_exactly_the_path_given(tmp_path, capsys, name):
    target = tmp_path / "missing" / name
    status, out, _ = tessera(capsys, "verilog", "pe", "-o", target)
    assert status == 0
    assert out.strip() == f"wrote {target}"
    assert "module tessera_pe(" in target.read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]   # no temp file left


def test_verilog_all_refuses_a_file_for_its_folder(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    status, _, err = tessera(capsys, "verilog", "all", "-o", tmp_path / "f")
    one_line(status, err, "is a file, not a folder")


@pytest.mark.parametrize(("command", "name"), [("gemm", "C.out"), ("spmv", "y")])
def test_gemm_and_spmv_write_exactly_the_path_given(good, tmp_path, capsys, command, name):
    """One simulation each (Icarus): the output lands at the very path, missing folders made,
    and the message names that path."""
    target = tmp_path / "not" / "yet" / name
    status, out, err = tessera(capsys, *OUTPUT_COMMANDS[command](good), "-o", target)
    assert status == 0, err
    assert f"wrote {target}" in out
    assert [p.name for p in target.parent.iterdir()] == [name]
    got = np.load(target, allow_pickle=False)
    if command == "gemm":
        want = np.load(good["A"]).astype(np.int32) @ np.load(good["B"]).astype(np.int32)
        assert got.dtype == np.int32 and np.array_equal(got, want)
    else:
        assert got.dtype == np.int8 and got.shape == (6,)


# -- class 7: Ctrl-C, and a parser that imports no Amaranth ----------------------------------------

def test_building_the_parser_imports_no_amaranth_numpy_or_cocotb():
    code = ("import sys; from tessera.sim.cli import build_parser; build_parser(); "
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('amaranth', 'cocotb', 'cocotb_tools', 'sklearn')]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


#: Ctrl-C arrives exactly when this module starts to be imported (a meta-path hook sends it).
BOMB = """
import os, signal, sys
target = sys.argv.pop(1)
class Bomb:
    def find_spec(self, name, path, target_=None):
        if name == target:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Bomb())
sys.argv[0] = "tessera"
from tessera.sim.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("target", ["argparse", "tessera.sim.commands.demo",
                                    "tessera.sim.commands.gemm", "numpy", "tessera.golden.npyfile",
                                    "tessera.sim.runner", "amaranth", "xml.etree.ElementTree",
                                    "numpy._core._multiarray_umath", "numpy.linalg"])
def test_ctrl_c_while_starting_is_one_line(good, target):
    proc = subprocess.run([sys.executable, "-c", BOMB, target, "gemm", good["A"], good["B"],
                           "--sim", "icarus"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.strip() in ("tessera: interrupted", "tessera gemm: interrupted"), \
        proc.stderr


@pytest.mark.parametrize("delay", [0.4, 0.9, 1.6, 3.0])
def test_ctrl_c_at_any_moment_is_one_line(good, tmp_path, delay):
    env = {k: v for k, v in os.environ.items() if k != "TESSERA_DEBUG"}
    proc = subprocess.Popen([sys.executable, "-m", "tessera.sim.cli", "gemm", good["A"],
                             good["B"], "--sim", "icarus"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(delay)
    try:
        os.killpg(proc.pid, signal.SIGINT)      # as a terminal does: the simulator too
    except ProcessLookupError:
        pass
    _, err = proc.communicate(timeout=300)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, (delay, err)
    assert proc.returncode in (0, 130), (delay, proc.returncode, err)


# -- the CLI's safety nets -------------------------------------------------------------------

def test_a_failed_simulation_is_one_line_exit_1(good, capsys, monkeypatch):
    from tessera.sim.commands import gemm
    from tessera.sim.runner import SimulationFailed

    def crash(*args, **kwargs):
        raise SimulationFailed("the simulator crashed: the simulation of x did not finish\n"
                               "log tail:\nsegfault")

    monkeypatch.setattr(gemm, "gemm", crash)
    status, _, err = tessera(capsys, "gemm", good["A"], good["B"], "--sim", "icarus")
    one_line(status, err, "the simulator crashed", code=1)


def test_a_bug_is_one_line_and_debug_shows_the_traceback(good, capsys, monkeypatch):
    from tessera.sim.commands import gemm

    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(gemm, "gemm", bug)
    monkeypatch.delenv("TESSERA_DEBUG", raising=False)
    status, _, err = tessera(capsys, "gemm", good["A"], good["B"], "--sim", "icarus")
    one_line(status, err, "internal error: KeyError", "TESSERA_DEBUG=1", code=3)
    monkeypatch.setenv("TESSERA_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(["gemm", str(good["A"]), str(good["B"]), "--sim", "icarus"])


def test_out_of_memory_is_one_line(good, capsys, monkeypatch):
    from tessera.sim.commands import gemm

    def hungry(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(gemm, "gemm", hungry)
    status, _, err = tessera(capsys, "gemm", good["A"], good["B"], "--sim", "icarus")
    one_line(status, err, "out of memory")


def test_the_tool_itself_prints_no_traceback_for_hostile_files(good, tmp_path):
    """The same files through the real program (a subprocess), as a user would run it."""
    cases = {"empty.npy": b"", "huge.npy": header_only((10**12,), extra=b"abc"),
             "cut.npy": npy_bytes(np.ones((4, 3), np.int8))[:-2]}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        for args in (["gemm", tmp_path / name, good["B"]], ["spmv", good["W"], tmp_path / name],
                     ["inspect", tmp_path / name]):
            proc = subprocess_tessera(*args)
            one_line(proc.returncode, proc.stderr, "error:")
            assert json.dumps(proc.stdout) == '""'
