# amaranth: UnusedElaboratable=no
"""cocotb testbenches of the shared post-processing unit, on Icarus and Verilator."""

import pytest
from tessera.hw.postproc import PostProcessor
from tessera.sim.runner import Design, simulate


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize(("acc_width", "valid", "ready"), [
    (32, ["always"], ["always"]),
    (32, ["random"], ["bursty"]),
    (16, ["bursty"], ["random"]),
])
def test_postproc(sim, acc_width, valid, ready):
    simulate(Design(PostProcessor, acc_width=acc_width), "tests.hw.tb_postproc", sim=sim,
             params={"count": 1500, "valid": valid, "ready": ready})


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_postproc_logic_multiplier(sim):
    """The shift-add multiplier in logic (for lanes past the DSP budget): the same values."""
    simulate(Design(PostProcessor, acc_width=32, multiplier="logic"), "tests.hw.tb_postproc",
             sim=sim, params={"count": 1500, "valid": ["random"], "ready": ["bursty"]})


@pytest.mark.parametrize(("acc_width", "error"), [
    (15, "acc_width must be between 16 and 32, not 15"),
    (33, "acc_width must be between 16 and 32, not 33"),
    (None, "acc_width must be an integer, not None"),
])
def test_postproc_rejects_bad_width(acc_width, error):
    with pytest.raises((TypeError, ValueError), match=error):
        PostProcessor(acc_width=acc_width)


def test_postproc_rejects_bad_multiplier():
    with pytest.raises(ValueError,
                       match=r"^multiplier must be one of 'dsp', 'logic', not 'lut'$"):
        PostProcessor(multiplier="lut")
