# amaranth: UnusedElaboratable=no
"""cocotb testbenches of the int8 MAC PE, on Icarus and Verilator."""

import pytest

from hw.pe import MACPE
from sim.runner import Design, simulate

SIMULATORS = ["icarus", "verilator"]


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("acc_width", [32, 18])
def test_pe(sim, acc_width):
    simulate(Design(MACPE, acc_width=acc_width), "tests.hw.tb_pe", sim=sim,
             params={"cycles": 3000})


@pytest.mark.parametrize(("acc_width", "error"), [
    (15, "acc_width must be between 16 and 64, not 15"),
    (65, "acc_width must be between 16 and 64, not 65"),
    ("32", "acc_width must be an integer, not '32'"),
])
def test_pe_rejects_bad_width(acc_width, error):
    with pytest.raises((TypeError, ValueError), match=error):
        MACPE(acc_width=acc_width)


def test_pe_signature():
    pe = MACPE(acc_width=24)
    assert pe.acc.shape().width == 24 and pe.acc.shape().signed
    assert {name for name, _ in pe.signature.members.items()} == {
        "a", "w", "en", "clr", "a_out", "acc"}
