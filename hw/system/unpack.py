"""The LOAD payload unpacker: 32-bit ``cmd`` words in, memory words of any width out."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int
from tessera.golden.isa import CMD_WIDTH, FIELD_BITS, Op

__all__ = ["PayloadUnpacker"]

#: Width of a LOAD's count.
COUNT_WIDTH = FIELD_BITS[Op.LOAD]["count"]


class PayloadUnpacker(wiring.Component):
    """Cut a LOAD's payload (:func:`tessera.golden.isa.pack_payload`) into memory words.

    A command of ``count`` memory words of ``bits`` each takes exactly
    ``ceil(count * bits / 32)`` words from ``i`` (the padding of the last is dropped) and
    sends ``count`` memory words on ``o``, ``lanes`` at a time (fewer in the last transfer).

    Timing, with ``cmd`` transferred at edge 0 and no gaps or back-pressure: ``i`` is taken
    at edges ``1 .. P``; ``o`` transfers at edges ``2 ..``, one a cycle: the last at edge
    ``1 + max(P, W)`` (``W = ceil(count / lanes)`` transfers), and ``busy`` is low after it.
    A buffer of ``lanes * bits + 32`` bits lets ``i`` and ``o`` move in the same cycle.

    Parameters
    ----------
    bits : int
        Width of a memory word, 1..128.
    lanes : int
        Memory words per ``o`` transfer, 1..8.

    Members
    -------
    cmd : In(stream.Signature(unsigned(16)))
        ``count``; taken only when idle. A count of 0 takes and sends nothing.
    i : In(stream.Signature(32))
        The payload words.
    o : Out(stream.Signature(StructLayout({"data": ArrayLayout(bits, lanes), "n": ...})))
        ``n`` memory words (1..lanes) in ``data``, word 0 in lane 0.
    busy : Out(1)

    Raises
    ------
    TesseraError, TesseraTypeError
        If a parameter is out of range or not an integer.
    """

    def __init__(self, *, bits, lanes=1):
        self.bits = check_int(bits, "bits", 1, 128)
        self.lanes = check_int(lanes, "lanes", 1, 8)
        self.Output = data.StructLayout({
            "data": data.ArrayLayout(unsigned(self.bits), self.lanes),
            "n": range(self.lanes + 1),
        })
        super().__init__({
            "cmd": In(stream.Signature(unsigned(COUNT_WIDTH))),
            "i": In(stream.Signature(unsigned(CMD_WIDTH))),
            "o": Out(stream.Signature(self.Output)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bits, lanes = self.bits, self.lanes
        cap = bits * lanes + CMD_WIDTH
        buf = Signal(cap)
        fill = Signal(range(cap + 1))
        words_left = Signal(COUNT_WIDTH)               # memory words still to send
        payload_left = Signal(COUNT_WIDTH + 8)         # payload words still to take

        n = Signal(range(lanes + 1))
        m.d.comb += n.eq(Mux(words_left >= lanes, lanes, words_left))
        need = Signal(range(cap + 1))
        m.d.comb += need.eq(n * bits)
        m.d.comb += [
            self.o.valid.eq((words_left != 0) & (fill >= need)),
            self.o.payload.data.as_value().eq(buf[:bits * lanes]),
            self.o.payload.n.eq(n),
        ]
        sent = self.o.valid & self.o.ready
        consumed = Signal(range(cap + 1))
        m.d.comb += consumed.eq(Mux(sent, need, 0))
        kept = Signal(range(cap + 1))
        m.d.comb += kept.eq(fill - consumed)
        m.d.comb += self.i.ready.eq((payload_left != 0) & (kept + CMD_WIDTH <= cap))
        taken = self.i.valid & self.i.ready
        shifted = buf >> consumed
        with m.If(taken):
            m.d.sync += [buf.eq(shifted | (self.i.payload << kept)[:cap]),
                         fill.eq(kept + CMD_WIDTH), payload_left.eq(payload_left - 1)]
        with m.Else():
            m.d.sync += [buf.eq(shifted), fill.eq(kept)]
        with m.If(sent):
            m.d.sync += words_left.eq(words_left - n)

        m.d.comb += [self.busy.eq((words_left != 0) | (payload_left != 0)),
                     self.cmd.ready.eq(~self.busy)]
        with m.If(self.cmd.valid & self.cmd.ready):
            count = self.cmd.payload
            m.d.sync += [words_left.eq(count),
                         payload_left.eq((count * bits + CMD_WIDTH - 1) // CMD_WIDTH),
                         buf.eq(0), fill.eq(0)]
        return m
