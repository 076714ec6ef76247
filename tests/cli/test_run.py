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
    _check_report(out, model, x)


def _check_report(out, model, x):
    """Every layer's cycles, utilization, energy and latency against the executor's figures
    and the energy model, computed here from the program and the executor's retired
    instructions."""
    from tessera.golden.compiler import compile_model
    from tessera.golden.energy import compressed_int8_energy, compressed_int8_layer_energy
    from tessera.golden.executor import run_program
    from tessera.sim.system import default_config
    from tessera.sim.system_report import clock

    config = default_config()
    program = compile_model(model, config)
    golden = run_program(program, x)
    mhz, source = clock(config)
    assert out["clock_mhz"] == mhz and out["clock"] == source
    energies = compressed_int8_layer_energy(model, x)
    arrays = {"systolic": config.systolic.rows * config.systolic.cols,
              "sparse": config.sparse.n_pes}
    for layer, plan, energy in zip(out["layers"], program.layers, energies, strict=True):
        retired = [run[1 + i] for run in golden.retired for i in plan.instructions]
        cycles = sum(r.cycles for r in retired)
        assert layer["cycles"] == pytest.approx(cycles / len(x))
        assert layer["latency_us"] == pytest.approx(cycles / len(x) / mhz)
        busy = sum(r.macs for r in retired)
        assert busy > 0
        assert layer["utilization"] == pytest.approx(busy / (arrays[plan.engine] * cycles))
        assert 0 < layer["utilization"] <= 1
        assert layer["energy"] == pytest.approx(sum(energy.values()))
    assert out["energy"] == pytest.approx(compressed_int8_energy(model, x)[0])
    assert out["latency_us"] == pytest.approx([c / mhz for c in golden.cycles])


def test_run_refuses_an_input_of_the_wrong_shape(cnn_file, tmp_path, capsys):
    path, _ = cnn_file
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 7), dtype=np.int8))
    assert main(["run", str(path), "--input", str(x), "--sim", "icarus"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "X must have shape (8, 8, 1)" in err, err


def test_the_clock_is_the_synthesized_fmax_or_says_which_it_is(monkeypatch):
    from tessera.golden.system_config import SystemConfig
    from tessera.sim import system_report
    from tessera.sim.system import default_config

    # tessera run's system is the registry's system-8x8-ecp5, which has a figure.
    assert system_report.clock(default_config()) == (
        system_report.SYNTHESIZED_FMAX_MHZ["system-8x8-ecp5"],
        "the synthesized Fmax of system-8x8-ecp5 (ecp5-85f)")

    monkeypatch.setattr(system_report, "SYNTHESIZED_FMAX_MHZ", {"system-8x8-ecp5": 87.5})
    assert system_report.clock(default_config()) == (
        87.5, "the synthesized Fmax of system-8x8-ecp5 (ecp5-85f)")
    mhz, source = system_report.clock(default_config(act_depth=4096))
    assert mhz == 100 and source.startswith("no synthesis figure for this configuration")
    mhz, source = system_report.clock(SystemConfig())
    assert source.startswith("no synthesis figure")
