"""Helpers for the cocotb side of a simulation (code that runs inside the simulator).

- :func:`params`, :func:`inputs`: what :func:`tessera.sim.runner.simulate` passed in.
- :func:`report`, :func:`save_outputs`: figures and arrays handed back to the caller.
- Payload words are packed by the host encoders (:mod:`tessera.sim.host.words`), not here.
- :func:`rng`: a NumPy generator seeded from cocotb's seed, so a failure's seed reproduces it.
- :func:`start_clock`, :func:`reset`: a free-running clock (cocotb's GPI clock, or one inside
  the simulator: :mod:`tessera.sim.simclock`) and Amaranth's synchronous reset.
- :func:`bench_test`: a cocotb test run on a fresh, reset testbench, its figures reported.

Streams (``amaranth.lib.stream`` interfaces) are driven and watched by the one driver family of
:mod:`tessera.sim.stream`.
"""

import json
import os
from pathlib import Path

import numpy as np

_RUN_DIR_ENV = "TESSERA_RUN_DIR"


def run_dir():
    """Return the folder of this run (set by :func:`tessera.sim.runner.simulate`)."""
    try:
        return Path(os.environ[_RUN_DIR_ENV])
    except KeyError:
        raise RuntimeError(
            "this cocotb module must be started by tessera.sim.runner.simulate") from None


def params():
    """Return the parameters passed as ``simulate(..., params=...)``."""
    return json.loads((run_dir() / "params.json").read_text())


def inputs():
    """Return the arrays passed as ``simulate(..., inputs=...)``, as a dict."""
    path = run_dir() / "inputs.npz"
    return dict(np.load(path)) if path.exists() else {}


def report(**figures):
    """Add JSON-serialisable figures to the report :func:`simulate` returns."""
    path = run_dir() / "report.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(figures)
    path.write_text(json.dumps(data))


def save_outputs(**arrays):
    """Hand arrays back to the caller of :func:`simulate` (``SimResult.outputs``)."""
    path = run_dir() / "outputs.npz"
    data = dict(np.load(path)) if path.exists() else {}
    data.update({name: np.asarray(value) for name, value in arrays.items()})
    np.savez(path, **data)


def rng(salt=0):
    """Return a NumPy generator seeded from cocotb's random seed (and ``salt``)."""
    import cocotb

    return np.random.default_rng([cocotb.RANDOM_SEED, salt])


def start_clock(dut, period_ns=10):
    """Start a free-running clock on ``dut.clk``, implemented in the simulator (no Python).

    Returns the :class:`cocotb.clock.Clock` (a GPI clock), or None when the design was
    simulated with its clock inside the simulator (``simulate(..., clock_ns=...)``,
    :mod:`tessera.sim.simclock`): that clock already runs, and is only recorded here.

    Raises
    ------
    ValueError
        If ``period_ns`` differs from the period of a clock inside the simulator.
    """
    import cocotb.simtime
    from cocotb.clock import Clock
    from tessera.sim import simclock
    from tessera.sim.stream import register_clock

    inside = simclock.clock_period()
    if inside is not None:
        if inside != period_ns:
            raise ValueError(f"clock period must be the simulator's {inside:g} ns, not "
                             f"{period_ns!r}")
        register_clock(dut.clk, period_ns, simclock.first_rise(period_ns))
        return None
    clock = Clock(dut.clk, period_ns, unit="ns", impl="gpi")
    clock.start()
    register_clock(dut.clk, period_ns, cocotb.simtime.get_sim_time("ns"))
    return clock


async def reset(dut, cycles=2):
    """Hold Amaranth's synchronous, active-high ``rst`` for ``cycles`` clock edges."""
    from cocotb.triggers import RisingEdge

    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


def bench_test(bench, salt=0, **kwargs):
    """Declare a cocotb test whose body runs on a fresh testbench: ``await body(t, rng)``.

    The test makes ``t = bench(dut)``, resets the design (``await t.reset()``), runs the body
    with ``rng(salt)`` (:func:`rng`), then hands the bench's ``figures()`` to :func:`report`.
    ``kwargs`` go to :func:`cocotb.test`.
    """
    import functools

    import cocotb

    def declare(body):
        @functools.wraps(body)
        async def test(dut):
            t = bench(dut)
            await t.reset()
            await body(t, rng(salt))
            report(**t.figures())

        return cocotb.test(**kwargs)(test)

    return declare
