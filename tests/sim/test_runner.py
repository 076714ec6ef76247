"""The runner: caching, parameters without leaks, failures that name their seed, waves."""

import os

import pytest
from tessera.sim import runner
from tessera.sim.runner import Design, SimulationFailed, simulate

from .stream_fifo import StreamFIFO

SIMULATORS = ["icarus", "verilator"]
PATTERNS = [("always",), ("bursty",), ("random",), ("alternate",)]


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize(("valid", "ready"), [(PATTERNS[0], PATTERNS[0]), (PATTERNS[1],
                         PATTERNS[2]), (PATTERNS[2], PATTERNS[3])])
def test_stream_helpers_keep_every_payload(sim, valid, ready):
    result = simulate(Design(StreamFIFO, width=12, depth=3), "tests.sim.tb_streams", sim=sim,
                      testcase="fifo_under_backpressure",
                      params={"count": 200, "valid": valid, "ready": ready})
    assert result.tests == 1 and result.failed == 0
    assert result.report["received"] == 200
    assert result.report["params"]["valid"] == list(valid)
    assert len(result.outputs["data"]) == 200


def test_parameters_do_not_leak_between_runs():
    design = Design(StreamFIFO, width=8, depth=2)
    first = simulate(design, "tests.sim.tb_streams", testcase="fifo_under_backpressure",
                     params={"count": 5, "valid": ["always"], "ready": ["always"]})
    second = simulate(design, "tests.sim.tb_streams", testcase="fifo_under_backpressure",
                      params={"count": 7, "valid": ["bursty"], "ready": ["always"]})
    assert first.report["received"] == 5 and second.report["received"] == 7
    assert "TESSERA_RUN_DIR" not in os.environ


def test_failure_names_test_and_seed():
    with pytest.raises(SimulationFailed, match=r"fails_on_purpose.*COCOTB_RANDOM_SEED=4242"):
        simulate(Design(StreamFIFO, width=8, depth=2), "tests.sim.tb_streams",
                 testcase="fails_on_purpose", params={"fail": True}, seed=4242)


def test_unknown_test_module_fails():
    with pytest.raises(SimulationFailed):
        simulate(Design(StreamFIFO, width=8, depth=2), "tests.sim.no_such_module")


def test_verilog_is_generated_once_per_design(tmp_path):
    design = Design(StreamFIFO, width=9, depth=2)
    path = runner.verilog(design, root=tmp_path)
    stamp = path.stat().st_mtime_ns
    assert runner.verilog(Design(StreamFIFO, width=9, depth=2), root=tmp_path) == path
    assert path.stat().st_mtime_ns == stamp
    other = runner.verilog(Design(StreamFIFO, width=9, depth=3), root=tmp_path)
    assert other != path and "module top" in other.read_text()


def test_key_covers_exactly_the_imported_sources():
    def names(module):
        return {"/".join(path.parts[-2:]) for path in runner._module_closure(module)}

    pe = names("tessera.hw.pe")
    assert {"hw/pe.py", "golden/errors.py", "hw/__init__.py"} <= pe
    assert not any(name.startswith(("systolic/", "sparse/")) for name in pe)
    systolic = names("tessera.hw.systolic")
    # tessera.hw.systolic builds on tessera.golden.config's systolic configuration: part of the key.
    assert {"systolic/top.py", "systolic/cell.py", "hw/pe.py", "config/systolic.py"} <= systolic
    assert not any(name.startswith("sparse/") for name in systolic)
    from tessera.hw.pe import MACPE
    from tessera.hw.systolic import SystolicGemm
    assert Design(MACPE).key != Design(MACPE, acc_width=24).key
    assert Design(MACPE).key != Design(SystolicGemm).key


def test_design_rejects_non_callable():
    with pytest.raises(TypeError, match="must be callable"):
        Design(42)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_waves_writes_fst(sim, monkeypatch, capfd):
    monkeypatch.setenv("WAVES", "1")
    result = simulate(Design(StreamFIFO, width=8, depth=2), "tests.sim.tb_streams", sim=sim,
                      testcase="fifo_under_backpressure",
                      params={"count": 4, "valid": ["always"], "ready": ["always"]})
    assert result.waves is not None and result.waves.exists() and result.waves.stat().st_size
    assert f"waves: {result.waves}" in capfd.readouterr().err


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("clock_ns", [None, 10])
def test_a_clock_inside_the_simulator(sim, clock_ns):
    """``clock_ns`` runs the clock in the simulator (tessera.sim.simclock): after a reset of
    two edges, rising edges at 25, 35, 45 ns, against the GPI clock's 20, 30, 40 (it rises at
    0); what a callback at an edge reads differs on Verilator only (after the edge there: the
    FIFO's ``o__valid`` one edge early)."""
    result = simulate(Design(StreamFIFO, width=8, depth=2), "tests.sim.tb_streams", sim=sim,
                      testcase="clock_edges", clock_ns=clock_ns)
    report = result.report
    first = 25 if clock_ns else 20
    assert report["times"] == [first, first + 10, first + 20]
    assert report["period"] == clock_ns
    assert report["cycle"] == 4                  # edges counted from the clock's first
    after = sim == "verilator" and clock_ns is not None
    assert report["valid"] == ([0, 1, 1] if after else [0, 0, 1])
    with pytest.raises(ValueError, match=r"^clock_ns must be a positive number, not 0$"):
        simulate(Design(StreamFIFO, width=8, depth=2), "tests.sim.tb_streams", sim=sim,
                 testcase="clock_edges", clock_ns=0)
