"""The host's end of the serial link: sessions, windows, acknowledgements, retransmission.

:class:`HostLink` carries a byte stream to the board's command stream and reads the board's
result stream back, exactly once and in order, over any transport that can write bytes and read
what arrived within a timeout (a serial port, a pseudo-terminal to a simulated board, or a model
in the tests). The frames and the board's behaviour are defined in :mod:`tessera.golden.link`.

What the host sees when the line misbehaves:

- garbage, dropped or corrupted bytes: nothing but a delay; damaged frames are dropped by the
  receiver and sent again (go-back-N) after ``retransmit_after`` without progress, once the line
  has been quiet for ``quiet_after`` (so the board's receiver has resynchronized);
  :attr:`HostLink.retransmissions` counts them;
- a board that does not answer: :class:`LinkError` after ``tries`` timeouts in a row, saying
  what to check;
- a board reset (the board's unasked ``HELLO``): :class:`LinkError` saying that the board was
  reset and the program must be sent again; the commands acknowledged before are lost with the
  board's state;
- a host that disappeared mid-frame: the board abandons the partial frame; the next host opens a
  new session with :meth:`HostLink.connect`.
"""

import time

from tessera.golden.errors import TesseraError
from tessera.golden.link import Deframer, Frame, Kind, encode

__all__ = ["HostLink", "LinkError"]


class LinkError(TesseraError):
    """The link failed: no answer from the board, or the board was reset."""


class HostLink:
    """Send command bytes to the board and read result bytes back over ``transport``.

    Parameters
    ----------
    transport
        An object with ``write(data)`` and ``read(timeout)`` (the bytes that arrived within
        ``timeout`` seconds, possibly none).
    max_payload : int
        The longest DATA payload, either way (the board must be built with the same bound).
    window : int
        Frames in flight before an acknowledgement, 1..8.
    retransmit_after, quiet_after : float
        Seconds without progress before sending again, and of quiet line before doing so.
    tries : int
        Timeouts in a row before :class:`LinkError`.
    clock : callable
        Returns the time in seconds (``time.monotonic``; the tests pass a simulated one).
    """

    def __init__(self, transport, *, max_payload=1024, window=4, retransmit_after=0.25,
                 quiet_after=0.05, tries=8, clock=time.monotonic):
        self.transport, self.max_payload, self.window = transport, max_payload, window
        self.retransmit_after, self.quiet_after, self.tries = retransmit_after, quiet_after, tries
        self.clock = clock
        self.retransmissions = 0
        self.credit = 0
        # The same bound both ways: a garbage header claiming a long frame is dropped at once.
        self._deframer = Deframer(max_payload=max_payload)
        self._session = 0
        self._results = bytearray()
        self._expected = 0            # the next result frame's seq
        self._base = self._next = 0   # the oldest unacknowledged DATA seq, and the next to use
        self._unacked = []            # payloads of frames base, base + 1, ...
        self._hello = None
        self._last_write = self._last_read = -1e9

    def connect(self):
        """Open a session: the board answers ``HELLO`` with its buffer size (returned)."""
        self._session = self._session % 15 + 1
        self._hello = None
        for _ in range(self.tries):
            self._write(encode(Frame(Kind.HELLO, self._session)))
            deadline = self.clock() + self.retransmit_after
            while self._hello is None and self.clock() < deadline:
                self._pump(deadline - self.clock(), during_connect=True)
            if self._hello is not None:
                self._base = self._next = self._expected = 0
                self._unacked.clear()
                self._results.clear()
                self.credit = self._hello
                return self._hello
        raise LinkError(f"no answer from the board after {self.tries} tries: is it connected, "
                        "powered and running the tessera bitstream?")

    def send(self, data):
        """Send ``data`` to the board's command stream; return when the board has taken all.

        Frames are ``max_payload`` bytes (the last one shorter) and wait for the board's credit
        to hold them, so a nearly full buffer does not turn the stream into tiny frames; the
        board announces credit that grows while the host waits.
        """
        data = memoryview(bytes(data))
        position, failures, progress = 0, 0, self.clock()
        while position < len(data) or self._unacked:
            in_flight = sum(len(p) for p in self._unacked)
            while position < len(data) and len(self._unacked) < self.window:
                room = min(self.max_payload, len(data) - position)
                if in_flight + room > self.credit:
                    break
                payload = bytes(data[position:position + room])
                position += room
                self._unacked.append(payload)
                in_flight += room
                self._write(encode(Frame(Kind.DATA, self._next, payload)))
                self._next = (self._next + 1) % 16
            before = (len(self._unacked), self.credit)
            self._pump(min(self.retransmit_after, 0.02))
            if len(self._unacked) < before[0] or self.credit > before[1]:
                failures, progress = 0, self.clock()
            elif self.clock() - progress >= self.retransmit_after:
                failures += 1
                if failures >= self.tries:
                    raise LinkError(f"the board acknowledged nothing for {self.tries} tries: "
                                    "is it still connected and running?")
                self._resend()
                progress = self.clock()

    def receive(self, count, *, timeout=5.0):
        """Return the next ``count`` result bytes, waiting at most ``timeout`` seconds."""
        deadline = self.clock() + timeout
        while len(self._results) < count:
            if self.clock() >= deadline:
                raise LinkError(f"the board sent {len(self._results)} of {count} result bytes "
                                f"in {timeout:g} s")
            self._pump(min(0.02, deadline - self.clock()))
        data = bytes(self._results[:count])
        del self._results[:count]
        return data

    def _resend(self):
        """Go back N, after a quiet line so that the board's receiver has resynchronized."""
        quiet = self._last_write + self.quiet_after - self.clock()
        if quiet > 0:
            self._pump(quiet)
        for offset, payload in enumerate(self._unacked):
            self.retransmissions += 1
            self._write(encode(Frame(Kind.DATA, (self._base + offset) % 16, payload)))

    def _write(self, data):
        self.transport.write(data)
        self._last_write = self.clock()

    def _pump(self, timeout, *, during_connect=False):
        data = self.transport.read(max(timeout, 0.0))
        if data:
            self._last_read = self.clock()
        elif self.clock() - self._last_read >= self.quiet_after:
            self._deframer.timeout()               # a quiet line: abandon a frame under way
        for frame in self._deframer.feed(data):
            if frame.kind == Kind.HELLO:
                if frame.seq == 0 and not during_connect:
                    raise LinkError("the board was reset: its state is lost; connect again and "
                                    "send the program from the start")
                if frame.seq == self._session and len(frame.payload) == 2:
                    self._hello = int.from_bytes(frame.payload, "little")
            elif frame.kind == Kind.ACK:
                ahead = (frame.seq - self._base) % 16
                if ahead < len(self._unacked):         # acknowledges frames base..seq
                    del self._unacked[:ahead + 1]
                    self._base = (frame.seq + 1) % 16
                    self.credit = int.from_bytes(frame.payload, "little")
                elif (self._base - 1 - frame.seq) % 16 == 0:
                    # The last frame acknowledged again: a credit update, or a duplicate.
                    self.credit = int.from_bytes(frame.payload, "little")
            else:
                if frame.seq == self._expected:
                    self._results += frame.payload
                    self._expected = (self._expected + 1) % 16
                self._write(encode(Frame(Kind.ACK, (self._expected - 1) % 16,
                                         (0xFFFF).to_bytes(2, "little"))))
