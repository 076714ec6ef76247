"""The build cache (issue 15, classes 6 and 8): every damaged entry heals on the next run, runs
leave no folders behind, several processes share it, ``tessera cache`` shows and clears it, and
it is one per user rather than one per working folder.

Each damage test builds a small FIFO on Icarus in a cache of its own (a few seconds), damages one
file the way the issue describes, and checks that the rerun passes and what it rebuilt.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tessera.sim import cache, runner
from tessera.sim.runner import Design, SimulationFailed, simulate

from .stream_fifo import StreamFIFO

ROOT = Path(__file__).resolve().parents[2]
SIM = "icarus"
PRODUCT = "sim.vvp"
DESIGN = dict(width=8, depth=2)


def run(root, count=5, **kwargs):
    result = simulate(Design(StreamFIFO, **DESIGN), "tests.sim.tb_streams", sim=SIM,
                      testcase="fifo_under_backpressure", root=root,
                      params={"count": count, "valid": ["always"], "ready": ["bursty"]},
                      **kwargs)
    assert result.failed == 0 and result.report["received"] == count
    return result


def entry(root):
    return Design(StreamFIFO, **DESIGN).folder(root)


@pytest.fixture
def built(tmp_path):
    """A cache in tmp_path holding one verified Icarus build of the FIFO."""
    run(tmp_path)
    folder = entry(tmp_path)
    assert (folder / "top.v").is_file() and (folder / SIM / PRODUCT).is_file()
    return tmp_path, folder


def stat_key(path):
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def test_a_clean_rerun_reuses_the_build(built):
    root, folder = built
    before = stat_key(folder / SIM / PRODUCT), stat_key(folder / "top.v")
    run(root)
    assert (stat_key(folder / SIM / PRODUCT), stat_key(folder / "top.v")) == before


def test_top_v_cut_in_half_is_regenerated(built):
    root, folder = built
    top = folder / "top.v"
    whole = top.read_bytes()
    top.write_bytes(whole[: len(whole) // 2])
    assert not cache.verified(folder / ".top.v.stamp", folder)
    run(root)
    assert top.read_bytes() == whole
    # The build records the digest of the source it was built from: the regenerated top.v is
    # that source again, so the (intact) build is kept.
    assert cache.verified(folder / SIM / ".built", folder / SIM,
                          source=runner.build_digest(top, SIM))


def test_other_build_flags_rebuild(built, monkeypatch):
    """A build records the flags it was made with: Verilator's changing rebuilds the model."""
    _, folder = built
    top = folder / "top.v"
    assert runner.build_digest(top, "verilator") != runner.build_digest(top, "icarus")
    before = runner.build_digest(top, "verilator")
    monkeypatch.setattr(runner.toolchain, "VERILATOR_BUILD_ARGS", ("--x-assign", "1"))
    assert runner.build_digest(top, "verilator") != before
    assert runner.build_digest(top, "verilator").startswith(cache.digest(top))


def test_a_build_from_another_source_is_redone(built):
    root, folder = built
    stamp = folder / SIM / ".built"
    record = cache.read_stamp(stamp)
    cache.write_stamp(stamp, [folder / SIM / PRODUCT], source="0" * 64)
    product = stat_key(folder / SIM / PRODUCT)
    run(root)
    assert cache.read_stamp(stamp)["source"] == record["source"]
    assert stat_key(folder / SIM / PRODUCT) != product


def test_top_v_with_one_flipped_byte_is_regenerated(built):
    root, folder = built
    top = folder / "top.v"
    whole = bytearray(top.read_bytes())
    whole[len(whole) // 3] ^= 0x20
    top.write_bytes(bytes(whole))
    run(root)
    assert cache.verified(folder / ".top.v.stamp", folder)


def test_simulator_binary_gone_while_its_stamp_remains(built):
    root, folder = built
    (folder / SIM / PRODUCT).unlink()
    assert (folder / SIM / ".built").exists()
    run(root)
    assert (folder / SIM / PRODUCT).is_file()


def test_simulator_binary_with_one_flipped_byte_is_rebuilt(built):
    root, folder = built
    binary = folder / SIM / PRODUCT
    data = bytearray(binary.read_bytes())
    data[len(data) // 2] ^= 0x01
    binary.write_bytes(bytes(data))
    run(root)
    assert binary.read_bytes() != bytes(data)          # rebuilt, not run as it was
    assert cache.verified(folder / SIM / ".built", folder / SIM)


@pytest.mark.parametrize("stamp", ["{not json", '{"files": {}}', '{"files": {"sim.vvp": 7}}'])
def test_damaged_stamps_mean_a_rebuild(built, stamp):
    root, folder = built
    (folder / SIM / ".built").write_text(stamp)
    (folder / ".top.v.stamp").write_text(stamp)
    run(root)
    assert cache.verified(folder / SIM / ".built", folder / SIM)
    assert cache.verified(folder / ".top.v.stamp", folder)


def test_a_crashing_binary_is_one_line_and_the_next_run_rebuilds(built):
    """Damage that no digest sees (a stamp rewritten to match garbage): the simulator crashes,
    the error's first line says so, the stamp is dropped and the rerun passes."""
    root, folder = built
    binary = folder / SIM / PRODUCT
    record = cache.read_stamp(folder / SIM / ".built")
    binary.write_text("garbage\n")
    cache.write_stamp(folder / SIM / ".built", [binary], source=record["source"])
    with pytest.raises(SimulationFailed) as info:
        run(root)
    first = str(info.value).splitlines()[0]
    assert first.startswith("the simulator crashed") and "COCOTB_RANDOM_SEED=" in first
    assert not (folder / SIM / ".built").exists()
    assert list((folder / SIM / "runs").iterdir()) == []
    run(root)


def test_a_build_stamped_by_an_older_tessera_is_adopted(built):
    root, folder = built
    product = stat_key(folder / SIM / PRODUCT)
    (folder / SIM / ".built").write_text(Design(StreamFIFO, **DESIGN).key + "\n")
    run(root)
    assert stat_key(folder / SIM / PRODUCT) == product
    assert cache.verified(folder / SIM / ".built", folder / SIM)


def test_run_folders_are_removed_even_when_the_run_fails(built, monkeypatch):
    root, folder = built
    with pytest.raises(SimulationFailed, match="TESSERA_KEEP_RUNS=1"):
        simulate(Design(StreamFIFO, **DESIGN), "tests.sim.tb_streams", sim=SIM, root=root,
                 testcase="fails_on_purpose", params={"fail": True}, seed=7)
    assert list((folder / SIM / "runs").iterdir()) == []
    monkeypatch.setenv("TESSERA_KEEP_RUNS", "1")
    with pytest.raises(SimulationFailed, match="run folder "):
        simulate(Design(StreamFIFO, **DESIGN), "tests.sim.tb_streams", sim=SIM, root=root,
                 testcase="fails_on_purpose", params={"fail": True}, seed=7)
    kept = list((folder / SIM / "runs").iterdir())
    assert len(kept) == 1 and (kept[0] / "sim.log").exists()


def test_several_processes_share_one_entry(tmp_path):
    """Three processes start on an empty cache at once: one build, three passing runs."""
    code = ("import sys; sys.path.insert(0, {root!r}); from pathlib import Path; "
            "from tests.sim.test_cache import run; run(Path({cache!r}), count=9)")
    procs = [subprocess.Popen([sys.executable, "-c", code.format(root=str(ROOT),
                                                                 cache=str(tmp_path))],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    folder = entry(tmp_path)
    assert cache.verified(folder / SIM / ".built", folder / SIM)
    assert list((folder / SIM / "runs").iterdir()) == []
    assert not (tmp_path / "build").exists()


def test_clear_keeps_entries_in_use_and_removes_the_rest(built):
    root, folder = built
    models = root / "models"
    models.mkdir()
    (models / "mlp.npz").write_bytes(b"x" * 100)
    with cache.locked(folder / SIM, shared=True):          # a simulation is running
        removed, busy = cache.clear(root)
        assert (removed, busy) == (1, 1)
        assert (folder / SIM / PRODUCT).is_file()
    assert cache.clear(root) == (1, 0)
    assert not folder.exists() and cache.usage(root) == {}
    run(root)                                              # and the cache fills again


def test_a_lock_waited_for_while_the_cache_is_cleared_is_taken_on_the_new_file(tmp_path):
    """A waits for B's lock; B clears the entry and releases: A must lock the recreated lock
    file (not the deleted one), so that a third process cannot lock it too."""
    import threading

    folder = tmp_path / "sim" / "entry"
    holding = threading.Event()
    release = threading.Event()
    errors = []

    def waiter():
        try:
            with cache.locked(folder):
                holding.set()
                release.wait(30)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    with cache.locked(folder):
        thread = threading.Thread(target=waiter)
        thread.start()
        cache.empty_folder(folder.parent, keep=())       # the cache is cleared under us
    assert holding.wait(30), f"the waiter never got its lock: {errors}"
    assert (folder / ".lock").exists()
    with pytest.raises(BlockingIOError), cache.locked(folder, blocking=False):
        pass
    release.set()
    thread.join(30)
    assert not errors
    with cache.locked(folder, blocking=False):
        pass


def test_a_lock_survives_its_folder_removed_between_mkdir_and_open(tmp_path, monkeypatch):
    """The race CI met once (the waiter above died of FileNotFoundError): the cache cleared
    right after ``locked`` made the folder and before it opened the lock file."""
    import shutil

    folder = tmp_path / "sim" / "entry"
    real_open, removed = cache.os.open, []

    def open_after_a_clear(path, *args, **kwargs):
        if not removed:
            removed.append(path)
            shutil.rmtree(folder)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(cache.os, "open", open_after_a_clear)
    with cache.locked(folder):
        assert removed and (folder / cache.LOCK).exists()


@pytest.mark.parametrize("damage", ["cut", "empty", "garbage"])
def test_a_damaged_float_model_cache_entry_is_retrained(tmp_path, damage):
    from tessera.golden.pipeline import train_float

    net, cached = train_float("mlp", 0, cache_dir=tmp_path)
    assert not cached
    (entry_file,) = tmp_path.glob("*.npz")
    data = entry_file.read_bytes()
    entry_file.write_bytes({"cut": data[: len(data) // 2], "empty": b"",
                            "garbage": b"PK\x03\x04" + b"\x00" * 64}[damage])
    again, cached = train_float("mlp", 0, cache_dir=tmp_path)
    assert not cached
    assert all((a.weight == b.weight).all() for a, b in zip(net.layers, again.layers))
    assert train_float("mlp", 0, cache_dir=tmp_path)[1]     # healed: the next call hits


# -- one cache per user (class 8) -----------------------------------------------------------------

def environment(**values):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TESSERA_BUILD_DIR", "XDG_CACHE_HOME", "TESSERA_MODEL_CACHE",
                        "TESSERA_DEBUG")}
    env.update(values)
    return env


@pytest.mark.parametrize(("variables", "expected"), [
    ({"TESSERA_BUILD_DIR": "{tmp}/mine"}, "{tmp}/mine"),
    ({"XDG_CACHE_HOME": "{tmp}/xdg"}, "{tmp}/xdg/tessera"),
    ({"HOME": "{tmp}/home"}, "{tmp}/home/.cache/tessera"),
    ({"HOME": "{tmp}/home", "XDG_CACHE_HOME": "relative"}, "{tmp}/home/.cache/tessera"),
    ({"TESSERA_BUILD_DIR": "rel", "XDG_CACHE_HOME": "{tmp}/xdg"}, "{tmp}/work/rel"),
])
def test_where_the_cache_is(tmp_path, variables, expected):
    work = tmp_path / "work"
    work.mkdir()
    env = environment(**{k: v.format(tmp=tmp_path) for k, v in variables.items()})
    proc = subprocess.run([sys.executable, "-m", "tessera.sim.cli", "cache", "--json"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["path"] == str(Path(expected.format(tmp=tmp_path)).resolve())
    assert list(work.iterdir()) == []


def test_generated_verilog_goes_to_the_user_cache_not_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TESSERA_BUILD_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    path = runner.verilog(Design(StreamFIFO, width=5, depth=2))
    assert path.is_relative_to(tmp_path / "xdg" / "tessera" / "sim")
    assert not (tmp_path / "build").exists()
    from tessera.golden.pipeline import default_cache_dir

    assert default_cache_dir() == (tmp_path / "xdg" / "tessera" / "models").resolve()


def test_tessera_cache_shows_and_clears(built):
    root, folder = built
    env = environment(TESSERA_BUILD_DIR=str(root))
    tool = [sys.executable, "-m", "tessera.sim.cli", "cache"]
    shown = subprocess.run(tool, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and str(root) in shown.stdout and "sim" in shown.stdout
    summary = json.loads(subprocess.run([*tool, "--json"], env=env, capture_output=True,
                                        text=True, timeout=120).stdout)
    assert summary["kinds"]["sim"]["entries"] == 1 and summary["bytes"] > 10_000
    cleared = subprocess.run([*tool, "--clear"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert cleared.returncode == 0 and "1 entries removed" in cleared.stdout, cleared.stdout
    assert not folder.exists()
