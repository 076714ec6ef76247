"""The system's host runtime (tessera.sim.system) over the co-simulation transport."""

import numpy as np
import pytest
from tessera.golden.compiler import compile_model
from tessera.golden.errors import TesseraError
from tessera.golden.inference import run_int8
from tessera.sim.system import CosimTransport, run_model

from tests.golden.test_system import SMALL, _inputs, random_model


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_a_cnn_runs_over_the_cosim_transport(sim):
    model = random_model(3)                       # conv, max-pool, conv, compressed FC
    program = compile_model(model, SMALL)
    x = _inputs(np.random.default_rng(7), model, 3)
    transport = CosimTransport(SMALL, sim=sim)
    run = run_model(program, x, transport)
    np.testing.assert_array_equal(run.logits, run_int8(model, x).reshape(len(x), -1))
    assert run.matches_golden and run.cycles_match and run.errors == 0
    assert run.predictions == run.logits.argmax(axis=1).tolist()
    assert transport.simulated_cycles >= sum(run.cycles)


class _Silent:
    """A transport to a board that never answers."""

    def write(self, data):
        self.data = data

    def read(self, n, timeout=None):
        return b""


def test_a_silent_transport_is_one_clear_error():
    model = random_model(4)
    program = compile_model(model, SMALL)
    x = _inputs(np.random.default_rng(7), model, 1)
    with pytest.raises(TesseraError, match=r"^the system sent 0 of the \d+ output words"):
        run_model(program, x, _Silent())
