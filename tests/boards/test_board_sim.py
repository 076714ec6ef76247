"""A simulated board behind a pseudo-terminal: the compressed MLP through pyserial, against
golden, and the same through the command line."""

import json
import os
import signal
import subprocess
import sys

import pytest
from tessera.boards.run import run_mlp
from tessera.boards.sim import HOST_TIMEOUTS, SimulatedBoard
from tessera.sim.serial import SerialTransport


@pytest.mark.slow
def test_mlp_through_the_pty():
    """iCEBreaker's top (one sparse PE behind the link, divisor 6) on Verilator: the resident
    MLP loaded and two digits run through a pty with pyserial; logits and counters match."""
    with SimulatedBoard("icebreaker") as simulated:
        with SerialTransport(simulated.path, simulated.board.baud) as transport:
            result = run_mlp(transport, "icebreaker", samples=2, host_timeouts=HOST_TIMEOUTS)
    assert result["logits"] == result["golden_logits"]
    assert result["matches_golden"], result["counter_mismatches"]
    # Retransmissions are not asserted: the host's timeouts are wall-clock seconds, and a
    # loaded machine slows the simulated board past them (the link then resends and the answer
    # must still be exact, as above).
    report = simulated.report
    # Every command byte went through the pty (plus the frames' overhead), every result back.
    assert report["to_board"] > result["bytes_sent"] > 14_000
    assert report["from_board"] > result["bytes_received"] == 2 * 4 * (10 + 3 * 6)
    # The line's use: command bytes per byte time of the simulated UART.
    divisor = simulated.board.divisor
    assert result["bytes_sent"] * 10 * divisor / report["cycles"] > 0.5


@pytest.mark.slow
def test_board_sim_and_run_commands():
    """`tessera board sim` prints the pty's path; `tessera board run --port PATH` runs a digit
    there and says matches_golden; Ctrl-C stops the simulated board."""
    tessera = [sys.executable, "-m", "tessera.sim.cli"]
    sim = subprocess.Popen([*tessera, "board", "sim", "icebreaker", "--seconds", "900"],
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = sim.stdout.readline()
        assert line.startswith("simulated icebreaker at /dev/"), line
        path = line.split(" at ")[1].split()[0]
        run = subprocess.run([*tessera, "board", "run", "icebreaker", "--port", path,
                              "--samples", "1", "--simulated", "--json"],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)
        assert result["matches_golden"] and result["logits"] == result["golden_logits"]
    finally:
        os.killpg(sim.pid, signal.SIGINT)
        assert sim.wait(timeout=120) in (0, 130)
