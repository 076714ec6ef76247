"""The link end to end: the host (tessera.sim.link) against the board's definition
(tessera.golden.link.BoardLink) over a simulated line that drops, corrupts and invents bytes.

Every command byte must reach the board exactly once and in order, every result byte the host,
and each failure the issue names must end the way the module's docstring says.
"""

import numpy as np
import pytest
from tessera.golden.link import BoardLink
from tessera.sim.link import HostLink, LinkError

BYTE_TIME = 1 / 300_000            # 3 Mbaud: ten bits a byte


class Line:
    """A host transport onto a :class:`BoardLink` through an impaired line, in simulated time.

    The "system" behind the board consumes command bytes at ``rate`` bytes a second and answers
    each with one result byte, ``byte ^ 0x5A``.
    """

    def __init__(self, board, seed, *, drop=0.0, corrupt=0.0, garbage=0.0, rate=None):
        self.board, self.rng = board, np.random.default_rng(seed)
        self.drop, self.corrupt, self.garbage, self.rate = drop, corrupt, garbage, rate
        self.now = 0.0
        self.taken = 0

    def clock(self):
        return self.now

    def _impair(self, data):
        out = bytearray()
        for byte in data:
            if self.rng.random() < self.garbage:
                out += self.rng.integers(0, 256, int(self.rng.integers(1, 20))).tobytes()
            if self.rng.random() < self.drop:
                continue
            if self.rng.random() < self.corrupt:
                byte ^= 1 << int(self.rng.integers(0, 8))
            out.append(byte)
        return bytes(out)

    def _run_system(self, elapsed):
        backlog = len(self.board.commands) - self.taken
        count = backlog if self.rate is None else min(backlog, int(self.rate * elapsed) + 1)
        new = self.board.commands[self.taken:self.taken + count]
        self.taken += count
        self.board.consume(count)
        if new:
            self.board.emit(bytes(b ^ 0x5A for b in new))

    def write(self, data):
        self.now += len(data) * BYTE_TIME
        self.board.receive(self._impair(data))
        self._run_system(len(data) * BYTE_TIME)

    def read(self, timeout):
        elapsed, step = 0.0, 0.002
        while True:
            self.board.advance(step)
            self.now += step
            elapsed += step
            self._run_system(step)
            out = self.board.transmit()
            if out:
                self.now += len(out) * BYTE_TIME
                return self._impair(out)
            if elapsed >= timeout:
                return b""


def _board(buffer_bytes=4096, max_payload=1024):
    return BoardLink(buffer_bytes=buffer_bytes, max_payload=max_payload, window=4,
                     retransmit_after=0.25, quiet_after=0.05)


def _host(line, **options):
    return HostLink(line, clock=line.clock, **({"tries": 30} | options))


def _run(line, data, **options):
    host = _host(line, **options)
    assert host.connect() == line.board.buffer_bytes
    host.send(data)
    results = host.receive(len(data), timeout=60.0)
    return host, results


def test_clean_line():
    data = np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    line = Line(_board(), seed=1)
    host, results = _run(line, data)
    assert bytes(line.board.commands) == data
    assert results == bytes(b ^ 0x5A for b in data)
    assert host.retransmissions == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("drop", "corrupt", "garbage", "payload"), [
    # Per-byte rates: at 3e-4 about one 1 KB frame in four is damaged; at 2e-3, one in five of
    # 128 bytes (a 1 KB frame would almost never get through whole).
    (3e-4, 0.0, 0.0, 1024), (0.0, 3e-4, 0.0, 1024), (0.0, 0.0, 3e-4, 1024),
    (2e-3, 2e-3, 2e-3, 128),
])
def test_bad_line_delivers_exactly_once_in_order(seed, drop, corrupt, garbage, payload):
    data = np.random.default_rng(seed).integers(0, 256, 12_000, dtype=np.uint8).tobytes()
    board = BoardLink(buffer_bytes=4096, max_payload=payload, window=4, retransmit_after=0.25,
                      quiet_after=0.05)
    line = Line(board, seed, drop=drop, corrupt=corrupt, garbage=garbage)
    host, results = _run(line, data, max_payload=payload)
    assert bytes(line.board.commands) == data, f"seed {seed}"
    assert results == bytes(b ^ 0x5A for b in data), f"seed {seed}"
    assert host.retransmissions > 0, "the line was bad, yet nothing was sent again"


def test_credit_holds_back_a_fast_host():
    """A slow system and a small buffer: the host waits for credit instead of overrunning."""
    data = bytes(range(256)) * 20
    line = Line(_board(buffer_bytes=700, max_payload=256), seed=4, rate=20_000)
    host, results = _run(line, data, max_payload=256)
    assert bytes(line.board.commands) == data and results == bytes(b ^ 0x5A for b in data)
    assert host.retransmissions == 0


def test_host_vanishing_mid_frame_leaves_nothing_behind():
    line = Line(_board(), seed=5)
    first = _host(line)
    first.connect()
    # The first host writes half a frame and disappears.
    frame = bytes([0xA5, 0x01, 0x10, 0x00]) + bytes(8)
    line.write(frame)
    line.read(0.2)                                       # the line stays quiet
    _, results = _run(line, b"second host")
    assert bytes(line.board.commands) == b"second host"
    assert results == bytes(b ^ 0x5A for b in b"second host")


def test_board_reset_is_reported():
    line = Line(_board(), seed=6)
    host = _host(line)
    host.connect()
    host.send(b"before the reset")
    line.board = _board()                                # power cycle: the board says HELLO 0
    with pytest.raises(LinkError, match=r"^the board was reset: its state is lost"):
        host.send(b"x" * 5000)
        host.receive(5000, timeout=5.0)
    assert host.connect() == 4096                        # a new session works
    host.send(b"after")
    assert host.receive(5) == bytes(b ^ 0x5A for b in b"after")


def test_no_board_is_one_line():
    class Silent:
        now = 0.0

        def write(self, data):
            pass

        def read(self, timeout):
            self.now += timeout
            return b""

    silent = Silent()
    host = HostLink(silent, clock=lambda: silent.now, tries=3)
    with pytest.raises(LinkError, match=r"^no answer from the board after 3 tries: is it "):
        host.connect()
