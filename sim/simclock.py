"""A clock that runs inside the simulator: no VPI callback, no Python, on every clock edge.

cocotb's GPI clock (:func:`tessera.sim.tb.start_clock` without this module) toggles ``clk``
from a timed VPI callback with an inertial write. Verilator applies an inertial write only
after an evaluation of the model, so each edge costs two evaluations of the whole design, four
a cycle, where a C++ loop needs two (measured on the system top: 400,005 ``eval`` calls for
100,000 idle cycles; ``docs/system.md``). A design simulated with ``clock_ns``
(:func:`tessera.sim.runner.simulate`) is instead wrapped in a small Verilog module,
:data:`CLOCKED_TOP`, that has every port of the design's top but ``clk`` and drives ``clk``
itself (``always #half clk = ~clk``; Verilator builds it with ``--timing``). ``dut.clk`` is
the wrapper's clock, awaitable as before, and :func:`tessera.sim.tb.start_clock` only records
its phase (:func:`clock_period`).

**What a testbench sees changes on Verilator.** With the GPI clock, a callback at a rising edge
of ``clk`` runs before the model evaluates that edge, so it reads the values the edge samples
(as on Icarus, where it runs before the nonblocking assignments): the stream drivers of
:mod:`tessera.sim.stream` rely on that. With the clock inside Verilator's model, the edge and
its registers' updates happen in one evaluation, and the callback reads the values *after* the
edge. Writes still take effect at the next edge. So only a testbench that never samples at an
edge suits this clock on Verilator: it writes after edges and reads registers whose changes it
awaits, in the read-only phase (:mod:`tessera.sim.cosim.system` with
:class:`tessera.sim.system_harness.SystemHarness`).

The clock starts low at time 0: its rising edges are at ``period / 2 + k * period``.
"""

import os
import re

__all__ = ["CLOCKED_TOP", "CLOCK_ENV", "clock_period", "clocked_wrapper", "first_rise"]

#: Name of the wrapper module (the simulation's toplevel when the clock runs inside).
CLOCKED_TOP = "top_clocked"
#: Environment variable through which the runner tells the cocotb side the clock's period (ns).
CLOCK_ENV = "TESSERA_CLOCK_NS"

_HEADER = re.compile(r"^module\s+(\w+)\s*\((.*?)\)\s*;", re.M | re.S)
_DECLARATION = re.compile(r"^\s*(input|output|inout)\s+(\[[^\]]*\]\s*)?(\w+)\s*;", re.M)


def clock_period():
    """The period (ns) of the clock running inside the simulator, or None (cocotb side)."""
    value = os.environ.get(CLOCK_ENV)
    return float(value) if value else None


def first_rise(period_ns):
    """Time (ns) of the wrapper clock's first rising edge."""
    return period_ns / 2


def _ports(text, module):
    """The ``(direction, range, name)`` of each port of ``module`` in ``text``, in header
    order (Amaranth's Verilog: a header naming the ports, then one declaration each)."""
    for header in _HEADER.finditer(text):
        if header.group(1) == module:
            break
    else:
        raise ValueError(f"the Verilog has no module {module!r}")
    body = text[header.end():text.index("endmodule", header.end())]
    declared = {name: (direction, (width or "").strip())
                for direction, width, name in _DECLARATION.findall(body)}
    names = [name.strip() for name in header.group(2).split(",") if name.strip()]
    missing = [name for name in names if name not in declared]
    if missing:
        raise ValueError(f"ports of {module!r} without a declaration: {', '.join(missing)}")
    return [(*declared[name], name) for name in names]


def clocked_wrapper(text, module, period_ns, clock="clk"):
    """Return the Verilog of :data:`CLOCKED_TOP`: ``module`` (in the Verilog ``text``) with
    its input ``clock`` driven from inside, every other port passed through.

    ``period_ns`` is in the simulation's time unit (1 ns); half of it must be a whole number
    of picoseconds (the precision).

    Raises
    ------
    ValueError
        If ``module`` or its ``clock`` input is missing, or for a bad period.
    """
    if not isinstance(period_ns, (int, float)) or not period_ns > 0:
        raise ValueError(f"clock period must be a positive number of ns, not {period_ns!r}")
    half_ps = period_ns * 1000 / 2
    if half_ps != int(half_ps):
        raise ValueError(f"half the clock period must be a whole number of ps, not "
                         f"{period_ns!r} ns")
    ports = _ports(text, module)
    if (("input", "", clock)) not in ports:
        raise ValueError(f"module {module!r} has no one-bit input {clock!r}")
    outer = [p for p in ports if p[2] != clock]
    lines = [f"module {CLOCKED_TOP}({', '.join(name for _, _, name in outer)});"]
    lines += [f"  {direction} {width + ' ' if width else ''}{name};"
              for direction, width, name in outer]
    lines += [f"  reg {clock} = 1'b0;",
              f"  always #{half_ps / 1000:g} {clock} = ~{clock};",
              f"  {module} core ("
              + ", ".join(f".{name}({name})" for _, _, name in ports) + ");",
              "endmodule", ""]
    return "\n".join(lines)
