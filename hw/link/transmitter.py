"""The link transmitter: result bytes into frames kept until acknowledged, and the replies."""

from amaranth import *
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import TesseraError, check_int
from tessera.golden.link import SYNC, Kind

from .crc import crc16_update
from .receiver import peer_ack_layout, reply_layout

__all__ = ["LinkTransmitter"]


class LinkTransmitter(wiring.Component):
    """Frame the system's result bytes and the receiver's replies onto the line, as
    :class:`tessera.golden.link.BoardLink` states it.

    Result bytes wait in a ring buffer. A frame is cut when ``max_payload`` bytes wait, or fewer
    once no result byte has come for ``flush_cycles``, while fewer than ``window`` frames are
    unacknowledged. A frame's bytes stay in the ring until the host acknowledges it (cumulative
    ACKs, strobed by the receiver on ``peer_ack``); after ``retransmit_cycles`` without an
    acknowledgement every unacknowledged frame is sent again, oldest first (go-back-N). A new
    session drops the unacknowledged and unframed results and counts from 0 again. Out of reset
    the transmitter says ``HELLO`` with ``seq`` 0 and the command buffer's size.

    Replies (ACK with the credit read when its frame starts, HELLO with the buffer size) go
    before any DATA frame that has not started.

    Parameters
    ----------
    buffer_bytes : int
        The receiver's command buffer, announced in HELLO, 16..32768.
    max_payload : int
        The longest DATA payload, 1..``results_bytes // window``.
    window : int
        Unacknowledged frames at most, 1..8.
    results_bytes : int
        The result ring, a power of two, 16..65536.
    retransmit_cycles, flush_cycles : int
        Cycles without acknowledgement before sending again; of no result byte before a
        partial frame goes.

    Members
    -------
    i : In(stream.Signature(8))
        Result bytes. Ready while the ring has room.
    reply : In(stream.Signature(reply_layout))
        Frames to send in answer (from :class:`LinkReceiver`); taken when their frame starts.
    credit : In(17)
        The receiver's credit, for ACK frames.
    peer_ack : In(peer_ack_layout)
        Strobes of the host's ACKs.
    new_session : In(1)
        Strobe: a host opened a session.
    o : Out(stream.Signature(8))
        Bytes for the UART transmitter.
    """

    def __init__(self, *, buffer_bytes=1024, max_payload=256, window=4, results_bytes=1024,
                 retransmit_cycles=100_000, flush_cycles=1000):
        self._buffer_bytes = check_int(buffer_bytes, "buffer_bytes", 16, 32768)
        self._window = check_int(window, "window", 1, 8)
        self._results_bytes = check_int(results_bytes, "results_bytes", 16, 65536)
        if results_bytes & (results_bytes - 1):
            raise TesseraError(f"results_bytes must be a power of two, not {results_bytes}")
        self._max_payload = check_int(max_payload, "max_payload", 1, results_bytes // window)
        self._retransmit_cycles = check_int(retransmit_cycles, "retransmit_cycles", 2, 1 << 30)
        self._flush_cycles = check_int(flush_cycles, "flush_cycles", 1, 1 << 24)
        super().__init__({
            "i": In(stream.Signature(8)),
            "reply": In(stream.Signature(reply_layout)),
            "credit": In(17),
            "peer_ack": In(peer_ack_layout),
            "new_session": In(1),
            "o": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._results_bytes
        bits = depth.bit_length()
        window = self._window
        m.submodules.ring = ring = memory.Memory(shape=8, depth=depth, init=[])
        write, read = ring.write_port(), ring.read_port()

        base = Signal(bits)                  # first byte of the oldest unacknowledged frame
        framed = Signal(bits)                # end of the framed bytes
        written = Signal(bits)               # end of the bytes written
        lengths = Array(Signal(range(self._max_payload + 1), name=f"length{k}")
                        for k in range(16))  # payload length of each seq in flight
        base_seq = Signal(4)
        unacked = Signal(range(window + 1))
        idle = Signal(range(self._flush_cycles + 1))
        waiting = Signal(range(self._retransmit_cycles + 1))
        resend = Signal(range(window + 1))   # frames still to send again, from base
        pop = Signal(range(16 + 1))          # acknowledged frames still to release

        # -- result bytes into the ring -------------------------------------------------------
        m.d.comb += [
            self.i.ready.eq((written - base)[:bits] != depth),
            write.addr.eq(written[:bits - 1]), write.data.eq(self.i.payload),
            write.en.eq(self.i.valid & self.i.ready),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [written.eq(written + 1), idle.eq(0)]
        with m.Elif(idle != self._flush_cycles):
            m.d.sync += idle.eq(idle + 1)

        # -- the emitter: one frame at a time, bytes straight from its state -------------------
        kind, seq = Signal(4, name="kind"), Signal(4, name="seq")
        length = Signal(16)
        value = Signal(16)                   # a control frame's payload
        pointer = Signal(bits)               # the payload byte being sent
        count = Signal(16)
        crc = Signal(16)
        hello0 = Signal(init=1)              # the HELLO out of reset is still to send
        busy_data = Signal()                 # a DATA frame is being sent from the ring
        advance = Signal()
        # The read port always holds ring[pointer]: its address is the pointer's next value.
        m.d.comb += [read.addr.eq(Mux(advance, pointer + 1, pointer)), read.en.eq(1)]
        with m.If(advance):
            m.d.sync += pointer.eq(pointer + 1)

        # The CRC covers the header and the payload: the bytes of the four states below.
        covered = crc16_update(crc, self.o.payload)

        new_length = Signal(range(self._max_payload + 1))
        available = (written - framed)[:bits]
        m.d.comb += new_length.eq(Mux(available >= self._max_payload, self._max_payload,
                                      available))
        # A new session (strobed now, or waiting for the frame under way) applies in this
        # cycle when the emitter is idle: no DATA frame may start from the session it drops.
        session = Signal()                   # a new session waits for the frame under way
        dropping = session | self.new_session
        can_frame = ((unacked < window) & (available != 0)
                     & ((available >= self._max_payload) | (idle == self._flush_cycles))
                     & (resend == 0) & (pop == 0) & ~dropping)

        def start(frame_kind, frame_seq, frame_length, frame_value=0):
            m.d.sync += [kind.eq(frame_kind), seq.eq(frame_seq), length.eq(frame_length),
                         count.eq(frame_length), value.eq(frame_value), crc.eq(0xFFFF)]
            m.next = "SYNC"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(hello0):
                    m.d.sync += hello0.eq(0)
                    start(Kind.HELLO, 0, 2, self._buffer_bytes & 0xFFFF)
                with m.Elif(self.reply.valid):
                    m.d.comb += self.reply.ready.eq(1)
                    with m.If(self.reply.payload.kind == Kind.HELLO):
                        start(Kind.HELLO, self.reply.payload.seq, 2, self._buffer_bytes & 0xFFFF)
                    with m.Else():
                        start(Kind.ACK, self.reply.payload.seq, 2,
                              Mux(self.credit > 0xFFFF, 0xFFFF, self.credit))
                with m.Elif((resend != 0) & ~dropping):
                    index = (base_seq + (unacked - resend))[:4]
                    offset = Signal(bits)
                    m.d.comb += offset.eq(sum((Mux(k < unacked - resend, lengths[
                        (base_seq + k)[:4]], 0) for k in range(window)), C(0, bits)))
                    m.d.sync += [resend.eq(resend - 1), pointer.eq(base + offset),
                                 busy_data.eq(1)]
                    start(Kind.DATA, index, lengths[index])
                with m.Elif(can_frame):
                    next_seq = (base_seq + unacked)[:4]
                    m.d.sync += [lengths[next_seq].eq(new_length), framed.eq(framed + new_length),
                                 unacked.eq(unacked + 1), pointer.eq(framed), busy_data.eq(1)]
                    start(Kind.DATA, next_seq, new_length)
            with m.State("SYNC"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(SYNC)]
                with m.If(self.o.ready):
                    m.next = "KIND"
            with m.State("KIND"):
                with m.If(self.o.ready):
                    m.d.sync += crc.eq(covered)
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(Cat(kind, seq))]
                with m.If(self.o.ready):
                    m.next = "LENGTH_LOW"
            with m.State("LENGTH_LOW"):
                with m.If(self.o.ready):
                    m.d.sync += crc.eq(covered)
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(length[:8])]
                with m.If(self.o.ready):
                    m.next = "LENGTH_HIGH"
            with m.State("LENGTH_HIGH"):
                with m.If(self.o.ready):
                    m.d.sync += crc.eq(covered)
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(length[8:])]
                with m.If(self.o.ready):
                    m.next = "PAYLOAD"
                    with m.If(length == 0):
                        m.next = "CRC_LOW"
            with m.State("PAYLOAD"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(kind == Kind.DATA):
                    m.d.comb += [self.o.payload.eq(read.data), advance.eq(self.o.ready)]
                with m.Else():
                    m.d.comb += self.o.payload.eq(Mux(count == 2, value[:8], value[8:]))
                with m.If(self.o.ready):
                    m.d.sync += [count.eq(count - 1), crc.eq(covered)]
                    with m.If(count == 1):
                        m.next = "CRC_LOW"
            with m.State("CRC_LOW"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(crc[:8])]
                with m.If(self.o.ready):
                    m.next = "CRC_HIGH"
            with m.State("CRC_HIGH"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(crc[8:])]
                with m.If(self.o.ready):
                    m.d.sync += busy_data.eq(0)
                    m.next = "IDLE"

        # -- acknowledgements, retransmission and sessions ------------------------------------
        ahead = (self.peer_ack.seq - base_seq)[:4]
        progress = self.peer_ack.valid & (ahead < unacked - pop)
        with m.If(progress):
            m.d.sync += pop.eq(pop + ahead + 1)
        with m.Elif((pop != 0) & ~busy_data):
            # Release one acknowledged frame a cycle, never while the emitter reads the ring.
            m.d.sync += [base.eq(base + lengths[base_seq]), base_seq.eq(base_seq + 1),
                         unacked.eq(unacked - 1), pop.eq(pop - 1),
                         # A frame not resent yet leaves the resend list with it.
                         resend.eq(Mux(resend == unacked, resend - 1, resend))]
        with m.If(progress):
            m.d.sync += waiting.eq(0)
        with m.Elif((unacked != 0) & (pop == 0) & (resend == 0)):
            with m.If(waiting == self._retransmit_cycles - 1):
                m.d.sync += [waiting.eq(0), resend.eq(unacked)]
            with m.Else():
                m.d.sync += waiting.eq(waiting + 1)
        with m.If(self.new_session):
            m.d.sync += session.eq(1)
        with m.If(dropping & ~busy_data):
            m.d.sync += [base.eq(written), framed.eq(written), base_seq.eq(0), unacked.eq(0),
                         pop.eq(0), resend.eq(0), waiting.eq(0), session.eq(0)]
        return m
