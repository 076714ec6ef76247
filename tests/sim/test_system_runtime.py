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


def test_the_cxx_loop_runs_the_same_program():
    """The C++ loop (no Python, the speed limit bench system reports) computes what golden does,
    to the cycle; a program cut short is one clear error, not a hang."""
    from tessera.sim.cxxloop import CxxLoopTransport

    model = random_model(3)
    program = compile_model(model, SMALL)
    x = _inputs(np.random.default_rng(8), model, 3)
    transport = CxxLoopTransport(SMALL)
    run = run_model(program, x, transport)
    np.testing.assert_array_equal(run.logits, run_int8(model, x).reshape(len(x), -1))
    assert run.matches_golden and run.cycles_match and run.errors == 0
    assert transport.simulated_cycles >= sum(run.cycles) and transport.seconds > 0
    with pytest.raises(TesseraError, match="output words the program asks for"):
        run_model(program, x[:1], _Truncated(CxxLoopTransport(SMALL), keep=4))


class _Truncated:
    """A transport that passes on only the first ``keep`` command words."""

    def __init__(self, inner, *, keep):
        self.inner, self.keep = inner, keep

    def write(self, data):
        self.inner.write(data[:4 * self.keep])

    def read(self, n, timeout=None):
        return self.inner.read(n, timeout)


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
