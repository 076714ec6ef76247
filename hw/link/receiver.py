"""The link receiver: frames in from the UART, command bytes out, exactly once and in order."""

from amaranth import *
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import TesseraError, check_int
from tessera.golden.link import SYNC, Kind

from .crc import crc16_update

__all__ = ["LinkReceiver", "reply_layout"]

#: A frame the board's transmitter must send in answer: an ACK of ``seq`` (with the credit it
#: reads from :attr:`LinkReceiver.credit` when it builds the frame) or a HELLO answering the
#: host's session ``seq``.
reply_layout = data.StructLayout({"kind": 4, "seq": 4})

#: An acknowledgement the host sent for the board's result frames (a one-cycle strobe).
peer_ack_layout = data.StructLayout({"valid": 1, "seq": 4})


class LinkReceiver(wiring.Component):
    """Take frames from the line and deliver DATA payloads to the system, as
    :class:`tessera.golden.link.BoardLink` states it.

    Payload bytes of a DATA frame that is next in sequence and fits the credit are written into
    a ring buffer past its committed end while the frame arrives; a good CRC commits them (and
    advances the expected sequence number), a bad CRC, a bad header or a quiet line in the middle
    of a frame rolls them back. So a command byte reaches ``o`` only once its frame is verified,
    and only once. Every frame with a good CRC is answered: a DATA frame with an ACK of the last
    frame taken, a host's HELLO (a session number 1..15) with a HELLO, which also restarts the
    sequence numbers and strobes ``new_session``.

    Parameters
    ----------
    buffer_bytes : int
        The ring buffer, a power of two from 16 to 32768 bytes (the credit when empty).
    max_payload : int
        The longest DATA payload, 1..``buffer_bytes`` (a longer frame is dropped at its header).
    quiet_cycles : int
        Clock cycles without a byte after which a frame under way is abandoned (choose more than
        one byte time of the UART).

    Members
    -------
    i : In(stream.Signature(8))
        Bytes from the UART receiver. Always ready: one byte a cycle at most is taken.
    o : Out(stream.Signature(8))
        Command bytes, in order. A byte is valid from the cycle after it can be read, and the
        buffer space it used is counted free from the cycle ``o`` takes it.
    reply : Out(stream.Signature(reply_layout))
        Frames to send in answer. A pending ACK is replaced by a later one (they are
        cumulative); at most one ACK and one HELLO wait at a time.
    peer_ack : Out(peer_ack_layout)
        One-cycle strobe of an ACK from the host, for the result transmitter.
    new_session : Out(1)
        One-cycle strobe: a host opened a session.
    credit : Out(17)
        Free bytes in the ring buffer. When the credit last acknowledged was below
        ``max_payload`` and has grown since, an ACK announces it after ``quiet_cycles``.
    dropped : Out(16)
        Frames dropped (bad header, bad CRC, abandoned), wrapping.
    """

    def __init__(self, *, buffer_bytes=1024, max_payload=1024, quiet_cycles=1000):
        self._buffer_bytes = check_int(buffer_bytes, "buffer_bytes", 16, 32768)
        if buffer_bytes & (buffer_bytes - 1):
            raise TesseraError(f"buffer_bytes must be a power of two, not {buffer_bytes}")
        self._max_payload = check_int(max_payload, "max_payload", 1, buffer_bytes)
        self._quiet_cycles = check_int(quiet_cycles, "quiet_cycles", 2, 1 << 24)
        super().__init__({
            "i": In(stream.Signature(8)),
            "o": Out(stream.Signature(8)),
            "reply": Out(stream.Signature(reply_layout)),
            "peer_ack": Out(peer_ack_layout),
            "new_session": Out(1),
            "credit": Out(17),
            "dropped": Out(16),
        })

    @property
    def buffer_bytes(self):
        return self._buffer_bytes

    @property
    def max_payload(self):
        return self._max_payload

    @property
    def quiet_cycles(self):
        return self._quiet_cycles

    def elaborate(self, platform):
        m = Module()
        depth = self._buffer_bytes
        bits = depth.bit_length()           # pointers with one bit more than the address
        m.submodules.ring = ring = memory.Memory(shape=8, depth=depth, init=[])
        write, read = ring.write_port(), ring.read_port()

        committed = Signal(bits)            # end of the verified bytes
        spec = Signal(bits)                 # end of the bytes of the frame under way
        head = Signal(bits)                 # the next byte to read for o
        m.d.comb += self.credit.eq(depth - (committed - head)[:bits])

        # -- output: the committed bytes, through the read port's register -----------------
        load = (~self.o.valid | self.o.ready) & (head != committed)
        m.d.comb += [read.addr.eq(head), read.en.eq(load), self.o.payload.eq(read.data)]
        with m.If(load):
            m.d.sync += [head.eq(head + 1), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        # -- replies: one ACK and one HELLO may wait; a later ACK replaces a waiting one -----
        want_ack, ack_seq = Signal(name="want_ack"), Signal(4, name="ack_seq")
        want_hello, hello_seq = Signal(name="want_hello"), Signal(4, name="hello_seq")
        with m.If(self.reply.valid & self.reply.ready):
            m.d.sync += self.reply.valid.eq(0)
        with m.If(~self.reply.valid | self.reply.ready):
            with m.If(want_hello):
                m.d.sync += [self.reply.valid.eq(1), self.reply.payload.kind.eq(Kind.HELLO),
                             self.reply.payload.seq.eq(hello_seq), want_hello.eq(0)]
            with m.Elif(want_ack):
                m.d.sync += [self.reply.valid.eq(1), self.reply.payload.kind.eq(Kind.ACK),
                             self.reply.payload.seq.eq(ack_seq), want_ack.eq(0)]

        # -- the deframer ---------------------------------------------------------------------
        m.d.comb += self.i.ready.eq(1)
        byte = self.i.payload
        take = self.i.valid
        crc = Signal(16)
        kind, seq = Signal(4, name="kind"), Signal(4, name="seq")
        length, count = Signal(16, name="length"), Signal(16, name="count")
        store = Signal()                    # this DATA frame's payload goes into the ring
        received_crc = Signal(8)
        expected = Signal(4)
        quiet = Signal(range(self._quiet_cycles + 1))

        m.d.sync += [self.peer_ack.valid.eq(0), self.new_session.eq(0)]

        def drop():
            m.d.sync += [spec.eq(committed), self.dropped.eq(self.dropped + 1)]
            m.next = "HUNT"

        with m.If(take):
            m.d.sync += quiet.eq(0)
        with m.Elif(quiet != self._quiet_cycles):
            m.d.sync += quiet.eq(quiet + 1)
        # A quiet line in the middle of a frame abandons it, once per quiet spell.
        abandon = ~take & (quiet == self._quiet_cycles - 1)
        next_crc = crc16_update(crc, byte)

        # Credit announcements: when the credit last acknowledged was below max_payload (a host
        # may be waiting for room) and it has grown since, an unasked ACK after a quiet time.
        acked_credit = Signal(17, init=depth)
        announce = Signal(range(self._quiet_cycles + 1))
        with m.If((acked_credit < self._max_payload) & (self.credit > acked_credit)):
            m.d.sync += announce.eq(announce + 1)
            with m.If(announce == self._quiet_cycles - 1):
                m.d.sync += [want_ack.eq(1), ack_seq.eq(expected - 1),
                             acked_credit.eq(self.credit), announce.eq(0)]

        header_ok = Signal()
        new_length = Cat(length[:8], byte)
        m.d.comb += header_ok.eq(
            ((kind == Kind.DATA) & (new_length <= self._max_payload))
            | ((kind == Kind.ACK) & (new_length == 2))
            | ((kind == Kind.HELLO) & ((new_length == 0) | (new_length == 2))))

        with m.FSM():
            with m.State("HUNT"):
                with m.If(take & (byte == SYNC)):
                    m.d.sync += crc.eq(0xFFFF)          # the SYNC is not covered
                    m.next = "KIND"
            with m.State("KIND"):
                with m.If(take):
                    m.d.sync += [kind.eq(byte[:4]), seq.eq(byte[4:]), crc.eq(next_crc)]
                    m.next = "LENGTH_LOW"
                with m.Elif(abandon):
                    drop()
            with m.State("LENGTH_LOW"):
                with m.If(take):
                    m.d.sync += [length[:8].eq(byte), crc.eq(next_crc)]
                    m.next = "LENGTH_HIGH"
                with m.Elif(abandon):
                    drop()
            with m.State("LENGTH_HIGH"):
                with m.If(take):
                    m.d.sync += [length.eq(new_length), count.eq(new_length), crc.eq(next_crc)]
                    m.d.sync += store.eq((kind == Kind.DATA) & (seq == expected)
                                         & (new_length <= self.credit))
                    with m.If(~header_ok):
                        drop()
                    with m.Elif(new_length == 0):
                        m.next = "CRC_LOW"
                    with m.Else():
                        m.next = "PAYLOAD"
                with m.Elif(abandon):
                    drop()
            with m.State("PAYLOAD"):
                m.d.comb += [write.addr.eq(spec[:bits - 1]), write.data.eq(byte),
                             write.en.eq(take & store)]
                with m.If(take):
                    m.d.sync += [count.eq(count - 1), crc.eq(next_crc)]
                    with m.If(store):
                        m.d.sync += spec.eq(spec + 1)
                    with m.If(count == 1):
                        m.next = "CRC_LOW"
                with m.Elif(abandon):
                    drop()
            with m.State("CRC_LOW"):
                with m.If(take):
                    m.d.sync += received_crc.eq(byte)
                    m.next = "CRC_HIGH"
                with m.Elif(abandon):
                    drop()
            with m.State("CRC_HIGH"):
                with m.If(take):
                    with m.If(Cat(received_crc, byte) != crc):
                        drop()
                    with m.Else():
                        m.next = "HUNT"
                        with m.Switch(kind):
                            with m.Case(Kind.DATA):
                                with m.If(store):
                                    m.d.sync += [committed.eq(spec), expected.eq(expected + 1),
                                                 ack_seq.eq(expected),
                                                 acked_credit.eq(depth - (spec - head)[:bits])]
                                with m.Else():
                                    m.d.sync += [ack_seq.eq(expected - 1),
                                                 acked_credit.eq(self.credit)]
                                m.d.sync += [want_ack.eq(1), announce.eq(0)]
                            with m.Case(Kind.ACK):
                                m.d.sync += [self.peer_ack.valid.eq(1),
                                             self.peer_ack.seq.eq(seq)]
                            with m.Case(Kind.HELLO):
                                with m.If(seq != 0):
                                    m.d.sync += [expected.eq(0), want_hello.eq(1),
                                                 hello_seq.eq(seq), want_ack.eq(0),
                                                 self.new_session.eq(1)]
                with m.Elif(abandon):
                    drop()
        return m
