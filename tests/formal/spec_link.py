"""Specs of the serial link's board end (tessera.hw.link) and their broken variants.

The configurations are the smallest the units take: a 16-byte command ring, a 16-byte result
ring, two frames in flight, short timeouts. Every state of the deframer and the framer
exists at these sizes; the CRC is the real one.
"""

from amaranth import Cat, Module
from amaranth.hdl import Assert, Cover
from tessera.golden.link import Kind
from tessera.hw.link import LinkReceiver, LinkTransmitter

from . import harness as h

__all__ = ["rx_conservation_spec", "rx_stream_spec", "tx_stream_spec"]

RX = dict(buffer_bytes=16, max_payload=16, quiet_cycles=3)
TX = dict(buffer_bytes=16, max_payload=4, window=2, results_bytes=16, retransmit_cycles=8,
          flush_cycles=2)


# -- LinkReceiver ---------------------------------------------------------------------------------

def _rx(m, variant, broken):
    dut = h.pick(variant, LinkReceiver, broken)(**RX)
    m.submodules.dut = inner = h.elaborated(dut)
    h.drive(m, dut.i.valid, dut.i.payload, dut.o.ready, dut.reply.ready)
    h.assume_stream(m, dut.i)
    return dut, inner


@h.breaks(LinkReceiver)
def _RxRepliesLatest(self, m):
    """Broken: a waiting ACK's sequence number follows the latest frame while it waits."""
    ack_seq = h.find(m, "ack_seq")
    with m.If(self.reply.payload.kind == Kind.ACK):
        m.d.sync += self.reply.payload.seq.eq(ack_seq)


@h.proof("link_rx_stream", "LinkReceiver(16-byte ring)", "prove", 4, fail_depth=16,
       covers="o and reply keep valid and payload until ready, for any bytes on the line",
       broken="a waiting ACK's sequence number changes while it waits")
def rx_stream_spec(variant):
    """From the signature: ``i`` assumed, ``o`` and ``reply`` checked, every input free."""
    return h.contract(h.pick(variant, LinkReceiver, _RxRepliesLatest)(**RX))


@h.breaks(LinkReceiver)
def _RxIgnoresCredit(self, m):
    """Broken: the credit forgets the unread bytes, so a frame that does not fit is stored."""
    m.d.comb += self.credit.eq(self.buffer_bytes)


@h.proof("link_rx_conservation", "LinkReceiver(16-byte ring)", "prove", 4, fail_depth=32,
       kind="conservation",
       covers="every byte read from the ring leaves on o exactly once; committed bytes are "
              "never overwritten: (frame under way) + (committed, unread) <= ring size",
       broken="the credit forgets the unread bytes (a frame that does not fit is stored)")
def rx_conservation_spec(variant):
    """The command ring: bytes read out = bytes taken on ``o`` + the byte waiting there, and
    the frame being stored never reaches the bytes not yet read (the credit check).

    The invariants that close the induction: the three pointers keep their order (``head``,
    ``committed``, ``spec``) within one ring's size, ``spec`` moves past ``committed`` only in
    the payload and CRC states of a DATA frame being stored, and a frame being stored still
    has room for the rest of it.
    """
    m = Module()
    dut, inner = _rx(m, variant, _RxIgnoresCredit)
    depth = RX["buffer_bytes"]
    bits = depth.bit_length()
    head, committed, spec = (h.find(inner, name) for name in ("head", "committed", "spec"))
    store, left = h.find(inner, "store"), h.find(inner, "count")
    unread = (committed - head)[:bits]
    stored = (spec - head)[:bits]
    taken = h.count(m, dut.o.valid & dut.o.ready, bits, name="taken")
    m.d.comb += [
        Assert((head - dut.o.valid - taken)[:bits] == 0),
        Assert(unread <= stored),
        Assert(stored <= depth),
        Assert(dut.credit == depth - unread),
    ]
    framing = Cat(h.in_state(inner, state) for state in ("PAYLOAD", "CRC_LOW", "CRC_HIGH")).any()
    with m.If(~framing | ~store):
        m.d.comb += Assert(spec == committed)
    with m.If(framing & store):
        m.d.comb += Assert(h.find(inner, "kind") == Kind.DATA)
    with m.If(h.in_state(inner, "PAYLOAD")):
        m.d.comb += Assert(left != 0)
        with m.If(store):
            m.d.comb += Assert(stored + left <= depth)
    m.d.comb += Cover(stored == depth)
    return m


# -- LinkTransmitter ------------------------------------------------------------------------------

@h.breaks(LinkTransmitter)
def _TxReadsAhead(self, m):
    """Broken: the payload pointer moves on whether or not ``o`` took the byte."""
    advance = h.find(m, "advance")
    with m.If(h.in_state(m, "PAYLOAD")):
        m.d.comb += advance.eq(1)


@h.proof("link_tx_stream", "LinkTransmitter(16-byte ring, window 2)", "bmc", 24, fail_depth=24,
       covers="o keeps valid and payload until ready (frames from the result ring and replies)",
       broken="the payload pointer moves on while o is stalled",
       why_bounded="the payload comes from a memory whose rows Amaranth 0.5 cannot name in a "
                   "property; 24 steps reach a DATA frame's payload stalled, after the HELLO "
                   "out of reset")
def tx_stream_spec(variant):
    m = Module()
    dut = h.pick(variant, LinkTransmitter, _TxReadsAhead)(**TX)
    m.submodules.dut = h.elaborated(dut)
    h.drive(m, dut.i.valid, dut.i.payload, dut.reply.valid, dut.reply.payload, dut.credit,
          dut.peer_ack, dut.new_session, dut.o.ready)
    h.assume_stream(m, dut.i)
    h.assume_stream(m, dut.reply, name="reply")
    h.check_stream(m, dut.o)
    return m
