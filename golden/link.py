"""The serial link's frames: the definition that the board's hardware and the host both follow.

The link carries the system's command stream (host to board) and result stream (board to host)
over a UART (:mod:`tessera.golden.uart`). Bytes on a serial line can be lost, corrupted or
invented (a host that starts in the middle of a frame, a cable plugged in), so every transfer
travels in a frame that says how long it is and carries a CRC::

    SYNC (0xA5) | kind:4 seq:4 | length (2 bytes, LE) | payload (length bytes) | CRC (2 bytes, LE)

- ``kind`` is :class:`Kind`: ``DATA`` carries stream bytes, ``ACK`` acknowledges the ``DATA``
  frame with the same ``seq``, ``HELLO`` opens a session (from the host) or announces a board
  that has just come out of reset (from the board); both sides then count ``seq`` from 0.
- ``length`` is at most the receiver's ``max_payload``; ``ACK`` and ``HELLO`` carry none.
- The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no
  final XOR; the check value of ``b"123456789"`` is 0x29B1) over the header and the payload.

The receiving rule (:class:`Deframer`), chosen so that hardware can follow it byte by byte with no
re-scan: hunt for SYNC; take the three header bytes; a header of an unknown kind, a payload on an
ACK or HELLO, or a length above ``max_payload`` is dropped there and the hunt starts again with
the next byte; otherwise take the payload and the CRC, deliver the frame if the CRC matches, and
drop it if not; hunt again with the next byte either way. A line that stays quiet in the middle of
a frame for longer than the receiver's timeout abandons the frame (:meth:`Deframer.timeout`), so a
host that disappears mid-frame leaves nothing half-received behind.
"""

import enum
from dataclasses import dataclass

from .errors import TesseraError, check_int

__all__ = [
    "HEADER_BYTES",
    "OVERHEAD_BYTES",
    "SYNC",
    "Deframer",
    "Frame",
    "Kind",
    "crc16",
    "encode",
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
        if self.kind != Kind.DATA and self.payload:
            raise TesseraError(f"a {self.kind.name} frame carries no payload, not "
                               f"{len(self.payload)} bytes")
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
                if kind not in set(Kind) or length > (
                        self.max_payload if kind == Kind.DATA else 0):
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
