"""The serial link's frames: the definition that the board's hardware and the host both follow.

The link carries the system's command stream (host to board) and result stream (board to host)
over a UART (:mod:`tessera.golden.uart`). Bytes on a serial line can be lost, corrupted or
invented (a host that starts in the middle of a frame, a cable plugged in), so every transfer
travels in a frame that says how long it is and carries a CRC::

    SYNC (0xA5) | kind:4 seq:4 | length (2 bytes, LE) | payload (length bytes) | CRC (2 bytes, LE)

- ``kind`` is :class:`Kind`: ``DATA`` carries stream bytes; ``ACK`` acknowledges every ``DATA``
  frame up to the one with its ``seq`` (cumulative) and carries the receiver's credit, the bytes
  it can take now (2 bytes, LE); ``HELLO`` opens a session (from the host, with a session number
  1..15 in ``seq``, no payload) and answers it (from the board: the same ``seq``, and the board's
  receive buffer size as its 2-byte payload); a board that comes out of reset says ``HELLO``
  with ``seq`` 0 unasked. Both sides count ``DATA`` sequence numbers from 0 in a new session.
- ``length``: a ``DATA`` payload is at most the receiver's ``max_payload`` bytes, an ``ACK``'s is
  2, a ``HELLO``'s 0 or 2.
- The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no
  final XOR; the check value of ``b"123456789"`` is 0x29B1) over the header and the payload.

The receiving rule (:class:`Deframer`), chosen so that hardware can follow it byte by byte with no
re-scan: hunt for SYNC; take the three header bytes; a header of an unknown kind, a control frame
of the wrong length, or a length above ``max_payload`` is dropped there and the hunt starts again
with the next byte; otherwise take the payload and the CRC, deliver the frame if the CRC matches
and drop it if not; hunt again with the next byte either way. A line that stays quiet in the middle
of a frame for longer than the receiver's timeout abandons the frame (:meth:`Deframer.timeout`), so
a host that disappears mid-frame leaves nothing half-received behind.
"""

import enum
from dataclasses import dataclass

from .errors import TesseraError, check_int

__all__ = [
    "HEADER_BYTES",
    "OVERHEAD_BYTES",
    "SYNC",
    "BoardLink",
    "Deframer",
    "Frame",
    "Kind",
    "bytes_to_words",
    "crc16",
    "encode",
    "word_bytes",
    "words_to_bytes",
]

#: The byte that starts every frame.
SYNC = 0xA5

#: The header after SYNC: kind and seq in one byte, then the payload length in two.
HEADER_BYTES = 3

#: Bytes a frame adds to its payload: SYNC, header, CRC.
OVERHEAD_BYTES = 1 + HEADER_BYTES + 2

#: The largest payload the format can state.
MAX_LENGTH = 0xFFFF


class Kind(enum.IntEnum):
    """What a frame is."""

    DATA = 1
    ACK = 2
    HELLO = 3


#: The payload lengths a control frame may have (a DATA frame's is bounded by the receiver).
_CONTROL_LENGTHS = {Kind.ACK: (2,), Kind.HELLO: (0, 2)}


def crc16(data, crc=0xFFFF):
    """Return CRC-16/CCITT-FALSE of ``data`` (bytes), continuing from ``crc``.

    Bitwise, most significant bit first, polynomial 0x1021; ``crc16(b"123456789") == 0x29B1``.
    """
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


@dataclass(frozen=True)
class Frame:
    """A frame's contents: its kind, its sequence number (0..15) and its payload."""

    kind: Kind
    seq: int
    payload: bytes = b""

    def __post_init__(self):
        object.__setattr__(self, "kind", Kind(self.kind))
        check_int(self.seq, "seq", 0, 15)
        if len(self.payload) not in _CONTROL_LENGTHS.get(self.kind, (len(self.payload),)):
            allowed = " or ".join(str(n) for n in _CONTROL_LENGTHS[self.kind])
            raise TesseraError(f"a {self.kind.name} frame carries {allowed} bytes of payload, "
                               f"not {len(self.payload)}")
        if len(self.payload) > MAX_LENGTH:
            raise TesseraError(f"a payload must be at most {MAX_LENGTH} bytes, not "
                               f"{len(self.payload)}")

    def header(self):
        """Return the three header bytes."""
        n = len(self.payload)
        return bytes([(self.seq << 4) | int(self.kind), n & 0xFF, n >> 8])


def encode(frame):
    """Return the bytes of ``frame`` on the line."""
    body = frame.header() + bytes(frame.payload)
    crc = crc16(body)
    return bytes([SYNC]) + body + bytes([crc & 0xFF, crc >> 8])


class Deframer:
    """Take frames out of a byte stream by the receiving rule in the module's docstring.

    Parameters
    ----------
    max_payload : int
        The longest DATA payload accepted, 1..65535 (a longer one is dropped at its header).

    Attributes
    ----------
    dropped : int
        Frames dropped: bad header, bad CRC, or abandoned by :meth:`timeout`.
    """

    def __init__(self, max_payload):
        self.max_payload = check_int(max_payload, "max_payload", 1, MAX_LENGTH)
        self.dropped = 0
        self._buffer = None        # the frame being received (header and payload), or None
        self._need = 0

    def timeout(self):
        """The line has been quiet too long: abandon the frame under way, if any."""
        if self._buffer is not None:
            self.dropped += 1
        self._buffer = None

    def feed(self, data):
        """Take ``data`` (bytes) and return the frames it completes, in order."""
        frames = []
        for byte in bytes(data):
            if self._buffer is None:
                if byte == SYNC:
                    self._buffer, self._need = bytearray(), HEADER_BYTES
                continue
            self._buffer.append(byte)
            if len(self._buffer) == HEADER_BYTES:
                kind, length = self._buffer[0] & 15, self._buffer[1] | (self._buffer[2] << 8)
                if kind not in set(Kind) or not (
                        length <= self.max_payload if kind == Kind.DATA
                        else length in _CONTROL_LENGTHS[Kind(kind)]):
                    self.dropped += 1
                    self._buffer = None
                    continue
                self._need = HEADER_BYTES + length + 2
            if len(self._buffer) == self._need:
                body, crc = bytes(self._buffer[:-2]), self._buffer[-2] | (self._buffer[-1] << 8)
                self._buffer = None
                if crc16(body) != crc:
                    self.dropped += 1
                    continue
                frames.append(Frame(Kind(body[0] & 15), body[0] >> 4, body[HEADER_BYTES:]))
        return frames


class BoardLink:
    """The board's end of the link, event by event: the behaviour its hardware must have.

    Host-to-board ``DATA`` payloads are the system's command bytes. The board takes a frame only
    when it is the next in sequence and fits its buffer; it then acknowledges it (cumulatively,
    with its credit). A frame out of sequence (a retransmission of one already taken, or one
    after a lost frame) is not taken, and the board acknowledges the last frame it did take, so
    every command byte reaches :attr:`commands` exactly once, in order. Result bytes
    (:meth:`emit`) go out in ``DATA`` frames that the board keeps until the host acknowledges
    them and sends again, from the oldest, when ``retransmit_after`` passes without progress
    (go-back-N). When the credit last announced was below ``max_payload`` (a host may be waiting
    for room) and the system has consumed commands since, the board announces the new credit
    with an unasked ``ACK`` once ``quiet_after`` has passed, so a waiting host never waits
    forever. Out of reset, the board says ``HELLO`` with ``seq`` 0.

    Parameters
    ----------
    buffer_bytes : int
        The command buffer (the credit the board offers), 1..65535.
    max_payload : int
        The longest ``DATA`` payload, either way, 1..``buffer_bytes``.
    window : int
        Result frames in flight before an acknowledgement, 1..8.
    retransmit_after, quiet_after : float
        Time without acknowledgement before results are sent again; time of a quiet line after
        which a frame under way is abandoned (the unit is the caller's, as in :meth:`advance`).
    flush_after : float
        Result bytes go out in frames of ``max_payload`` as soon as that many wait; fewer go out
        once no result byte has come for ``flush_after``.
    """

    def __init__(self, *, buffer_bytes, max_payload, window=4, retransmit_after, quiet_after,
                 flush_after=0.0):
        self.buffer_bytes = check_int(buffer_bytes, "buffer_bytes", 1, MAX_LENGTH)
        self.window = check_int(window, "window", 1, 8)
        self.max_payload = check_int(max_payload, "max_payload", 1, self.buffer_bytes)
        self.retransmit_after, self.quiet_after = retransmit_after, quiet_after
        self.flush_after = flush_after
        self._idle = 0.0               # time since the last result byte
        self.commands = bytearray()    # command bytes taken, in order (the system's cmd stream)
        self.buffered = 0              # of which the system has not consumed yet
        self._deframer = Deframer(max_payload)
        self._line = bytearray()
        self._expected = 0             # the next host DATA seq
        self._next_seq = 0             # the next result frame's seq
        self._results = bytearray()    # result bytes not framed yet
        self._unacked = []             # result frames sent and not acknowledged: (seq, payload)
        self._quiet = self._waiting = self._announce = 0.0
        self._acked_credit = self.buffer_bytes
        self._send(Frame(Kind.HELLO, 0, self.buffer_bytes.to_bytes(2, "little")))

    @property
    def credit(self):
        """Command bytes the board can take now."""
        return self.buffer_bytes - self.buffered

    def consume(self, count):
        """The system has consumed ``count`` command bytes: their buffer space is free again."""
        self.buffered -= min(count, self.buffered)

    def receive(self, data):
        """Bytes arrive from the host."""
        if data:
            self._quiet = 0.0
        for frame in self._deframer.feed(data):
            if frame.kind == Kind.DATA:
                if frame.seq == self._expected and len(frame.payload) <= self.credit:
                    self.commands += frame.payload
                    self.buffered += len(frame.payload)
                    self._expected = (self._expected + 1) % 16
                self._ack((self._expected - 1) % 16)
            elif frame.kind == Kind.ACK:
                seqs = [seq for seq, _ in self._unacked]
                if frame.seq in seqs:
                    del self._unacked[:seqs.index(frame.seq) + 1]
                    self._waiting = 0.0
                    self._frame_results()
            elif frame.seq != 0:       # a host opens a session; a HELLO with seq 0 is a board's
                self._expected, self._next_seq, self._waiting = 0, 0, 0.0
                self._unacked.clear()
                self._results.clear()
                self._send(Frame(Kind.HELLO, frame.seq, self.buffer_bytes.to_bytes(2, "little")))

    def emit(self, data):
        """The system puts result bytes on its output stream."""
        if data:
            self._results += data
            self._idle = 0.0
        self._frame_results()

    def advance(self, elapsed):
        """Time passes: abandon a frame under way on a quiet line; send unacknowledged results
        again when no acknowledgement came for ``retransmit_after``."""
        self._quiet += elapsed
        self._idle += elapsed
        if self._quiet >= self.quiet_after:
            self._deframer.timeout()
        self._frame_results()
        if self._acked_credit < self.max_payload and self.credit > self._acked_credit:
            self._announce += elapsed
            if self._announce >= self.quiet_after:
                self._ack((self._expected - 1) % 16)
        if self._unacked:
            self._waiting += elapsed
            if self._waiting >= self.retransmit_after:
                self._waiting = 0.0
                for seq, payload in self._unacked:
                    self._send(Frame(Kind.DATA, seq, payload))

    def transmit(self):
        """Return (and forget) the bytes the board has put on its line since the last call."""
        data, self._line = bytes(self._line), bytearray()
        return data

    def _ack(self, seq):
        self._acked_credit, self._announce = self.credit, 0.0
        self._send(Frame(Kind.ACK, seq, self.credit.to_bytes(2, "little")))

    def _frame_results(self):
        while self._results and len(self._unacked) < self.window:
            if len(self._results) < self.max_payload and self._idle < self.flush_after:
                break                  # a partial frame waits for more bytes or for the flush
            payload = bytes(self._results[:self.max_payload])
            del self._results[:self.max_payload]
            self._unacked.append((self._next_seq, payload))
            self._send(Frame(Kind.DATA, self._next_seq, payload))
            self._next_seq = (self._next_seq + 1) % 16

    def _send(self, frame):
        self._line += encode(frame)


# -- the payload: a core's words as bytes --------------------------------------------------------

def word_bytes(width):
    """Return the bytes one ``width``-bit word takes in a link payload: ``ceil(width / 8)``."""
    return -(-check_int(width, "word width", 1, 1 << 16) // 8)


def words_to_bytes(words, width):
    """Return the payload bytes of ``words``: each word little-endian in :func:`word_bytes`
    bytes, its bits above ``width`` cleared (so a negative word is its two's complement).

    This is how the host puts a core's command words on the link and how the board's bridge
    (:class:`tessera.hw.link.WordsToBytes`) puts the core's output words on it.
    """
    size, mask = word_bytes(width), (1 << width) - 1
    return b"".join((int(word) & mask).to_bytes(size, "little") for word in words)


def bytes_to_words(data, width, *, signed=False):
    """Return the ``width``-bit words of ``data`` (:func:`words_to_bytes`' inverse; the bits of
    the last byte above ``width`` are ignored, as the board's :class:`tessera.hw.link.BytesToWords`
    ignores them). ``signed`` reads each word as two's complement.

    Raises
    ------
    TesseraError
        If ``data`` is not a whole number of words.
    """
    size = word_bytes(width)
    if len(data) % size:
        raise TesseraError(f"{len(data)} bytes are not a whole number of {width}-bit words "
                           f"({size} bytes each)")
    mask, top = (1 << width) - 1, 1 << (width - 1)
    words = []
    for at in range(0, len(data), size):
        word = int.from_bytes(data[at:at + size], "little") & mask
        words.append(word - (word & top) * 2 if signed else word)
    return words
