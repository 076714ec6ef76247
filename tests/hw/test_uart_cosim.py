"""The UART echo on Icarus and Verilator, driven bit by bit from cocotb."""

import pytest
from tessera.sim.runner import Design, simulate

from .uart_echo import UARTEcho


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("divisor", [4, 25])
def test_uart_echo(sim, divisor):
    result = simulate(Design(UARTEcho, divisor=divisor), "tests.hw.tb_uart", sim=sim,
                      params={"divisor": divisor, "count": 60})
    assert result.report["bytes"] == 63
