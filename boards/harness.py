"""An I/O harness that lets a wide design be placed on a small FPGA for a size and timing study."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["IOHarness"]


class IOHarness(wiring.Component):
    """Wrap ``core`` so that it needs two data pins, whatever the width of its ports.

    Every input port of ``core`` is driven from one long shift register fed by ``si``; every
    output port is registered and folded by XOR into ``so``. Synthesis can therefore remove none
    of the core's logic (each output bit reaches a pin) and assume nothing about its inputs.

    Used where the place-and-route tool has no out-of-context mode (nextpnr-ice40): the core's
    ports would otherwise need far more pins than the package has.

    Cost, to subtract when reading a report: one flip-flop per input bit (the shift register),
    one flip-flop per output bit (the output registers), one more for ``so``, and about one LUT4
    per three output bits for the XOR tree.

    Members
    -------
    si : In(1)
        Serial input of the shift register.
    so : Out(1)
        XOR of every registered output bit.
    """

    si: In(1)
    so: Out(1)

    def __init__(self, core):
        self._core = core
        super().__init__()
        self.input_bits = sum(len(value) for _, flow, value in self._ports() if flow == In)
        self.output_bits = sum(len(value) for _, flow, value in self._ports() if flow == Out)

    def _ports(self):
        for path, member, value in self._core.signature.flatten(self._core):
            yield path, member.flow, Value.cast(value)  # struct views become plain values

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self._core

        chain = Signal(max(self.input_bits, 1))
        m.d.sync += chain.eq(Cat(self.si, chain[:-1]))
        offset = 0
        outputs = []
        for _, flow, value in self._ports():
            if flow == In:
                m.d.comb += value.eq(chain[offset:offset + len(value)])
                offset += len(value)
            else:
                registered = Signal(len(value))
                m.d.sync += registered.eq(value)
                outputs.append(registered)
        m.d.sync += self.so.eq(Cat(*outputs).xor() if outputs else 0)
        return m
