# amaranth: UnusedElaboratable=no
"""cocotb testbenches of the sparse PE array on Icarus and Verilator (tests/hw/tb_sparse.py).

Three designs cover the parameter space; every other variation goes through the test inputs:

- ``default``: 4 PEs, queue depth 8, EIE's 4-bit indices and relative indices, 8 entries a word;
- ``odd``: 9 PEs (two ACT lane groups, not a power of two), queue depth 3, 2-bit relative
  indices (padding everywhere), 3-bit indices, 6-bit weights, 4 entries a word, three codebook
  slots;
- ``single``: 1 PE, queue depth 2, 1 entry a word, 16-bit weights, one codebook slot and one
  activation per ACT command (``act_pack=False``), as on the iCE40UP5K boards.
"""

import pytest
from tessera.hw.sparse import SparseArray
from tessera.sim.runner import Design, simulate

SIMULATORS = ["icarus", "verilator"]

DESIGNS = {
    "default": dict(n_pes=4, fifo_depth=8, act_depth=64, spmat_depth=256, ptr_depth=256,
                    param_depth=64),
    "odd": dict(n_pes=9, fifo_depth=3, index_bits=3, rel_bits=2, weight_width=6,
                entries_per_word=4, act_depth=16, spmat_depth=128, ptr_depth=256,
                param_depth=32, codebooks=3),
    "single": dict(n_pes=1, fifo_depth=2, weight_width=16, entries_per_word=1, act_depth=64,
                   spmat_depth=1024, ptr_depth=256, param_depth=128, codebooks=1,
                   act_pack=False),
}


def run(design, sim, testcase, **params):
    config = DESIGNS[design]
    return simulate(Design(SparseArray, **config), "tests.hw.tb_sparse", sim=sim,
                    testcase=testcase, params={"config": config, **params})


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("design", list(DESIGNS))
def test_random_layers(sim, design):
    cases = 12 if sim == "icarus" else 30
    result = run(design, sim, "random_layers", cases=cases)
    assert result.report["checked"] > cases  # every case's stats, most cases' outputs


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize(("valid", "ready"), [(["random"], ["random"]),
                                              (["bursty"], ["alternate"])])
def test_random_layers_under_backpressure(sim, valid, ready):
    run("default", sim, "random_layers", cases=6, valid=valid, ready=ready, pattern_seed=7)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_eie_example(sim):
    run("default", sim, "eie_example")


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("design", list(DESIGNS))
@pytest.mark.parametrize("testcase", ["corners", "swapped_layers", "reset_mid_layer",
                                      "bad_input", "almost_full_queue"])
def test_directed(sim, design, testcase):
    run(design, sim, testcase)


# Verification depth (issue 16): on every design, saturation to -128 and to 127 without ReLU and
# the largest product; several layers resident at random bases (Icarus; the random layers and
# the directed cases cover Verilator).
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("design", list(DESIGNS))
def test_saturating_corners(sim, design):
    assert run(design, sim, "saturating_corners").report["checked"] >= 8


@pytest.mark.parametrize("design", list(DESIGNS))
def test_resident_layers(design):
    assert run(design, "icarus", "resident_layers", rounds=2).report["checked"] >= 4
