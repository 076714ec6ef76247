"""The board link (UART + link receiver and transmitter) on Icarus and Verilator."""

import pytest
from tessera.sim.runner import Design, simulate

from .link_echo import LinkEcho


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_link_session(sim):
    options = {"divisor": 4, "buffer_bytes": 256, "max_payload": 32, "quiet_cycles": 200,
               "retransmit_cycles": 20_000}
    result = simulate(Design(LinkEcho, **options), "tests.hw.tb_link", sim=sim, params=options)
    assert result.report["frames"] >= 1 and result.report["commands"] >= 4
