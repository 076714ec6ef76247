"""The link bridge: link payload bytes to a core's command words, its output words to bytes.

The byte order is :func:`tessera.golden.link.words_to_bytes`: each word little-endian in
``ceil(width / 8)`` bytes.
"""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.link import word_bytes

__all__ = ["BytesToWords", "WordsToBytes"]


class _Bridge(wiring.Component):
    """What both directions share: the word width and the bytes a word takes."""

    def __init__(self, width, word_in):
        self._bytes = word_bytes(width)
        self._width = width
        wide, narrow = stream.Signature(width), stream.Signature(8)
        super().__init__({"i": In(wide if word_in else narrow),
                          "o": Out(narrow if word_in else wide)})

    @property
    def width(self):
        return self._width


class BytesToWords(_Bridge):
    """Gather ``ceil(width / 8)`` bytes, first byte lowest, into one ``width``-bit word.

    ``width`` is 1..65536. Bits of the last byte above ``width`` are dropped
    (:func:`tessera.golden.link.bytes_to_words`).

    Members
    -------
    i : In(stream.Signature(8))
        Bytes. Ready while the word is not complete, and in the cycle the complete word leaves
        (so a byte a cycle is taken, with no gap between words).
    o : Out(stream.Signature(width))
        Words, valid from the cycle after their last byte until taken.
    """

    def __init__(self, width):
        super().__init__(width, word_in=False)

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(8 * self._bytes)            # the newest byte enters at the top
        n = self._bytes
        count = Signal(range(n + 1))
        full = count == n
        m.d.comb += [self.o.valid.eq(full), self.o.payload.eq(shreg[:self._width]),
                     self.i.ready.eq(~full | self.o.ready)]
        take, give = self.i.valid & self.i.ready, self.o.valid & self.o.ready
        with m.If(take):
            m.d.sync += shreg.eq(Cat(shreg[8:], self.i.payload) if n > 1 else self.i.payload)
        with m.If(take & give):
            m.d.sync += count.eq(1)
        with m.Elif(take):
            m.d.sync += count.eq(count + 1)
        with m.Elif(give):
            m.d.sync += count.eq(0)
        return m


class WordsToBytes(_Bridge):
    """Send each ``width``-bit word (``width`` 1..65536) as ``ceil(width / 8)`` bytes, lowest
    first, the bits above ``width`` zero.

    Members
    -------
    i : In(stream.Signature(width))
        Words. Ready while no byte is waiting, and in the cycle the last byte of a word leaves (a
        word every ``ceil(width / 8)`` cycles when ``o`` is always ready).
    o : Out(stream.Signature(8))
        Bytes, valid from the cycle after their word is taken.
    """

    def __init__(self, width):
        super().__init__(width, word_in=True)

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(8 * self._bytes)
        left = Signal(range(self._bytes + 1))     # bytes of the word still to send
        give = self.o.valid & self.o.ready
        m.d.comb += [self.o.valid.eq(left != 0), self.o.payload.eq(shreg[:8]),
                     self.i.ready.eq((left == 0) | ((left == 1) & self.o.ready))]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shreg.eq(self.i.payload), left.eq(self._bytes)]
        with m.Elif(give):
            m.d.sync += [shreg.eq(shreg >> 8), left.eq(left - 1)]
        return m
