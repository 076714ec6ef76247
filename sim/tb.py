"""Helpers for the cocotb side of a simulation (code that runs inside the simulator).

- :func:`params`, :func:`inputs`: what :func:`tessera.sim.runner.simulate` passed in.
- :func:`report`, :func:`save_outputs`: figures and arrays handed back to the caller.
- Payload words are packed by the host encoders (:mod:`tessera.sim.host.words`), not here.
- :func:`rng`: a NumPy generator seeded from cocotb's seed, so a failure's seed reproduces it.
- :func:`start_clock`, :func:`reset`: a free-running GPI clock and Amaranth's synchronous reset.
- :class:`StreamSource`, :class:`StreamSink`: drive and collect an ``amaranth.lib.stream``
  interface (``<name>__valid``, ``<name>__ready``, ``<name>__payload`` in the Verilog), with
  seeded idle and back-pressure patterns.
"""

import json
import os
from collections import deque
from pathlib import Path

import numpy as np

_RUN_DIR_ENV = "TESSERA_RUN_DIR"

#: Cycles without progress after which a stream wait gives up (a hang, not a slow design).
STALL_CYCLES = 10_000


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
    """Start a free-running clock on ``dut.clk``, implemented in the simulator (no Python)."""
    import cocotb.simtime
    from cocotb.clock import Clock
    from tessera.sim.stream import register_clock

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


def pattern(kind, seed=0, length=64):
    """Return a repeating on/off pattern (a list of bools) for valid or ready.

    ``kind`` is ``"always"`` (every cycle), ``"alternate"`` (every other cycle),
    ``"bursty"`` (cocotbext-axi's four-cycle pause pattern, 3 on, 1 off) or ``"random"``
    (each cycle on with probability 1/2, from ``seed``).
    """
    if kind == "always":
        return [True]
    if kind == "alternate":
        return [True, False]
    if kind == "bursty":
        return [True, True, True, False]
    if kind == "random":
        return [bool(x) for x in np.random.default_rng(seed).integers(0, 2, length)]
    raise ValueError(f"unknown pattern {kind!r}")


def _port(dut, name):
    return getattr(dut, name)


class StreamSource:
    """Drive the stream ``<name>`` of ``dut`` with integer payloads.

    ``valid`` follows ``pattern`` while there is data; the payload and ``valid`` are held until
    the transfer happens (``valid`` never waits for ``ready``), as ``amaranth.lib.stream``
    requires.
    """

    def __init__(self, dut, name, valid_pattern=("always",), seed=0):
        import cocotb

        self.clk = dut.clk
        self.name = name
        self.valid = _port(dut, f"{name}__valid")
        self.payload = _port(dut, f"{name}__payload")
        self.ready = _port(dut, f"{name}__ready")
        self.pattern = pattern(*valid_pattern, seed=seed) if isinstance(
            valid_pattern, tuple) else list(valid_pattern)
        self.queue = deque()
        self.sent = 0
        self.valid.value = 0
        self._task = cocotb.start_soon(self._run())

    def send(self, payloads):
        """Queue payloads (integers; negative values are sent in two's complement)."""
        width = len(self.payload)
        mask = (1 << width) - 1
        self.queue.extend(int(p) & mask for p in payloads)

    @property
    def idle(self):
        """True once every queued payload has been transferred."""
        return not self.queue

    async def wait_idle(self, stall_cycles=STALL_CYCLES):
        """Wait until every queued payload has been taken.

        Raises AssertionError after ``stall_cycles`` cycles in which nothing was taken.
        """
        from cocotb.triggers import RisingEdge

        waited, sent = 0, self.sent
        while self.queue:
            await RisingEdge(self.clk)
            waited = 0 if self.sent != sent else waited + 1
            sent = self.sent
            if waited > stall_cycles:
                raise AssertionError(f"stream {self.name!r} took nothing for {stall_cycles} "
                                     f"cycles with {len(self.queue)} payloads still queued")

    def stop(self):
        self._task.cancel()

    async def _run(self):
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self.clk)
        step = 0
        active = False
        while True:
            if not active:
                if self.queue and self.pattern[step % len(self.pattern)]:
                    self.payload.value = self.queue[0]
                    self.valid.value = 1
                    active = True
                else:
                    self.valid.value = 0
            await edge
            step += 1
            if active and int(self.ready.value):
                self.queue.popleft()
                self.sent += 1
                active = False


class StreamSink:
    """Collect the payloads of the stream ``<name>`` of ``dut``; ``ready`` follows a pattern."""

    def __init__(self, dut, name, ready_pattern=("always",), seed=0, signed=False):
        import cocotb

        self.clk = dut.clk
        self.name = name
        self.valid = _port(dut, f"{name}__valid")
        self.payload = _port(dut, f"{name}__payload")
        self.ready = _port(dut, f"{name}__ready")
        self.pattern = pattern(*ready_pattern, seed=seed) if isinstance(
            ready_pattern, tuple) else list(ready_pattern)
        self.signed = signed
        self.received = []
        self.ready.value = 0
        self._task = cocotb.start_soon(self._run())

    async def wait_for(self, count, stall_cycles=STALL_CYCLES):
        """Wait until ``count`` payloads have been received in total.

        Raises AssertionError after ``stall_cycles`` cycles in which nothing arrived, so that a
        design that drops data fails instead of hanging the simulation.
        """
        from cocotb.triggers import RisingEdge

        waited, seen = 0, len(self.received)
        while len(self.received) < count:
            await RisingEdge(self.clk)
            waited = 0 if len(self.received) != seen else waited + 1
            seen = len(self.received)
            if waited > stall_cycles:
                raise AssertionError(f"stream {self.name!r}: nothing arrived for {stall_cycles} "
                                     f"cycles; received {seen} of {count}")

    def stop(self):
        self._task.cancel()

    async def _run(self):
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self.clk)
        step = 0
        while True:
            ready = self.pattern[step % len(self.pattern)]
            self.ready.value = int(ready)
            await edge
            step += 1
            if ready and int(self.valid.value):
                value = self.payload.value
                self.received.append(value.to_signed() if self.signed else value.to_unsigned())
