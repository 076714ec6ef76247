"""Skew: the staircase of delays that lines a vector up with a systolic array's wavefront."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int

__all__ = ["Skew", "tapped_delay"]


def tapped_delay(m, signal, taps, *, name):
    """Return ``[signal delayed by 1, ..., by taps]``: one delay line, tapped at every stage.

    When every lane of a staircase carries the same value (a control token that travels beside
    the data), one tapped line of ``taps`` registers replaces ``taps * (taps + 1) / 2``.
    """
    out = []
    previous = signal
    for stage in range(taps):
        reg = Signal.like(signal, name=f"{name}_d{stage + 1}")
        m.d.sync += reg.eq(previous)
        out.append(reg)
        previous = reg
    return out


class Skew(wiring.Component):
    """Delay lane ``l`` of a vector by ``base + l`` clock cycles.

    A row of activations presented at once leaves as a diagonal wavefront: lane 0 first, lane
    ``l`` ``l`` cycles later, which is the order in which the rows (or columns) of a systolic
    array need them.

    Parameters
    ----------
    lanes : int
        Number of lanes, 1..64.
    shape : shape-like
        Shape of one lane.
    base : int
        Delay of lane 0, 0..4 (default 0, combinational).

    Members
    -------
    i : In(data.ArrayLayout(shape, lanes))
    o : Out(data.ArrayLayout(shape, lanes))
        ``o[l]`` is ``i[l]`` as it was ``base + l`` cycles earlier. The delays are data only and
        are not reset (no reset logic in front of them); control travels in separate, reset
        registers (:func:`tapped_delay`).
    """

    def __init__(self, *, lanes, shape, base=0):
        self.lanes = check_int(lanes, "lanes", 1, 64)
        self.base = check_int(base, "base", 0, 4)
        self.shape = shape
        layout = data.ArrayLayout(shape, self.lanes)
        super().__init__({"i": In(layout), "o": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        for lane in range(self.lanes):
            previous = self.i[lane]
            for stage in range(self.base + lane):
                reg = Signal(self.shape, name=f"lane{lane}_d{stage + 1}", reset_less=True)
                m.d.sync += reg.eq(previous)
                previous = reg
            m.d.comb += self.o[lane].eq(previous)
        return m
