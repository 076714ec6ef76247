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


def _mult18x18d_blocks(multiplier, family):
    """The MULT18X18D instances of a 32-bit PostProcessor elaborated for ``family``: for each,
    its parameters and port connections as ``{name: text}``."""
    import re

    from tessera.boards.synth import OutOfContext
    from tessera.sim.runner import convert

    text = convert(PostProcessor(multiplier=multiplier), platform=OutOfContext(family))
    return [dict(re.findall(r"\.(\w+)\(([^()]*)\)", block))
            for block in re.findall(r"MULT18X18D #\((.*?)\n  \);", text, re.S)]


def test_postproc_uses_the_dsp_blocks_own_registers_on_ecp5():
    """On an ECP5 the two multiplies are MULT18X18D instances whose input and output registers
    are in use and enabled by the pipeline's advance (``i.ready``), so a stall holds them."""
    blocks = _mult18x18d_blocks("dsp", "ecp5")
    assert len(blocks) == 2
    for block in blocks:
        for reg in ("INPUTA", "INPUTB", "OUTPUT"):
            assert block[f"REG_{reg}_CLK"] == '"CLK0"'
            assert block[f"REG_{reg}_CE"] == '"CE0"'
        assert block["CLK0"] == "clk"
        assert block["CE0"] == "i__ready"
    # In logic, or for another family, no instance (the iCE40 packs SB_MAC16's registers).
    assert _mult18x18d_blocks("logic", "ecp5") == []
    assert _mult18x18d_blocks("dsp", "ice40") == []


def test_postproc_latency_is_the_cycle_models():
    from tessera.golden import sparse_cycles, systolic

    assert PostProcessor.LATENCY == 7
    assert systolic.POSTPROC_LATENCY == sparse_cycles.POSTPROC_LATENCY == PostProcessor.LATENCY
