"""A simulation-only feeder: a narrow stream served from a FIFO that is filled wide.

Co-simulation pays Python and VPI per transfer of a stream it drives, so a program of
thousands of ``cmd`` words costs thousands of Python wake-ups. :class:`CommandFeeder` takes
*entries* of up to ``words`` words on its input ``i`` (one transfer for up to ``words`` words)
into a FIFO and sends them one word a cycle on ``o``. A FIFO deep enough for the whole program
is filled before the consumer starts (:class:`tessera.sim.system_harness.SystemHarness` holds
it in reset meanwhile), so the consumer sees its words valid every cycle, as from a source that
never pauses; a longer program keeps being filled at up to ``words`` words a cycle while it
runs, faster than ``o`` can drain.

The entry layout, :func:`entry_layout`, is used by the gateware and by the host's packer
:func:`pack_entries` alike. Not meant for synthesis.
"""

import numpy as np
from amaranth import Module, Signal, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CommandFeeder", "entry_layout", "pack_entries"]


def entry_layout(words, width):
    """The layout of one entry: ``words`` words of ``width`` bits (word 0 sent first) and
    ``last``, the index of the last word sent (an entry holds ``last + 1`` words)."""
    return data.StructLayout({"words": data.ArrayLayout(unsigned(width), words),
                              "last": range(words)})


def pack_entries(values, words, width):
    """Pack the words ``values`` (non-negative ints below ``2 ** width``) into entries of
    :func:`entry_layout` ``(words, width)``: a list of ints, the last entry partial (packed by
    :func:`tessera.sim.host.words.encode`, the layout's own offsets)."""
    from tessera.sim.host.words import encode

    layout = entry_layout(words, width)
    values = np.asarray(values).tolist()
    return [encode(layout, {"words": values[start:start + words],
                            "last": len(values[start:start + words]) - 1})
            for start in range(0, len(values), words)]


class CommandFeeder(wiring.Component):
    """Words taken ``words`` at a time into a FIFO, sent one a cycle (simulation only).

    Parameters
    ----------
    words : int
        Words an entry holds (at least 1).
    width : int
        Bits a word (8, 16, 32 or 64).
    depth : int
        Entries the FIFO holds (at least 1; ``amaranth.lib.fifo.SyncFIFOBuffered``).

    Members
    -------
    i : In(stream.Signature(entry_layout(words, width)))
        Entries; ready while the FIFO has room.
    o : Out(stream.Signature(width))
        The entries' words, in order, one a cycle while ``o.ready``: ``o.valid`` is high from
        the cycle after an entry is written to the FIFO (two cycles after, into an empty one)
        until the FIFO is empty, and ``o.ready`` may depend on ``o.valid``.

    Attributes
    ----------
    words, width, depth : int
        The parameters.

    Raises
    ------
    TypeError
        For a parameter that is not an integer in range.
    """

    def __init__(self, *, words=16, width=32, depth=1024):
        for name, value, low in (("words", words, 1), ("depth", depth, 1)):
            if not isinstance(value, int) or value < low:
                raise TypeError(f"{name} must be an integer of at least {low}, not {value!r}")
        if width not in (8, 16, 32, 64):
            raise TypeError(f"width must be 8, 16, 32 or 64, not {width!r}")
        self.words, self.width, self.depth = words, width, depth
        self._layout = entry_layout(words, width)
        super().__init__({"i": In(stream.Signature(self._layout)),
                          "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = queue = fifo.SyncFIFOBuffered(width=self._layout.size,
                                                          depth=self.depth)
        m.d.comb += [queue.w_data.eq(self.i.payload), queue.w_en.eq(self.i.valid),
                     self.i.ready.eq(queue.w_rdy)]
        entry = data.View(self._layout, queue.r_data)
        index = Signal(range(self.words))
        m.d.comb += [self.o.valid.eq(queue.r_rdy), self.o.payload.eq(entry.words[index])]
        with m.If(self.o.valid & self.o.ready):
            with m.If(index == entry.last):
                m.d.comb += queue.r_en.eq(1)
                m.d.sync += index.eq(0)
            with m.Else():
                m.d.sync += index.eq(index + 1)
        return m
