"""SerialTransport (pyserial) carrying HostLink to the board's definition behind a pty: the same
duck type HostLink's tests use, now through a real serial device node."""

import os
import select
import threading
import time
import tty

import numpy as np
import pytest
from tessera.golden.errors import TesseraError
from tessera.golden.link import BoardLink
from tessera.sim.link import HostLink
from tessera.sim.serial import SerialTransport


class _BoardBehindPty:
    """golden.link.BoardLink served on the master end of a pty, with a stand-in system that
    answers each command byte with ``byte ^ 0x5A``."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.board = BoardLink(buffer_bytes=1024, max_payload=256, window=4,
                               retransmit_after=0.5, quiet_after=0.05, flush_after=0.005)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        board, consumed, last = self.board, 0, time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.002)
            if ready:
                board.receive(os.read(self.master, 4096))
            now = time.monotonic()
            board.advance(now - last)
            last = now
            new = bytes(board.commands[consumed:])
            consumed += len(new)
            board.consume(len(new))
            board.emit(bytes(b ^ 0x5A for b in new))
            out = board.transmit()
            if out:
                os.write(self.master, out)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self.master)
        os.close(self.slave)


def test_host_link_over_a_serial_port():
    seed = 11
    data = np.random.default_rng(seed).integers(0, 256, 6000).astype(np.uint8).tobytes()
    with _BoardBehindPty() as served, SerialTransport(served.path, 3_000_000) as transport:
        link = HostLink(transport, max_payload=256, retransmit_after=0.5, quiet_after=0.05)
        assert link.connect() == 1024
        link.send(data)
        got = link.receive(len(data), timeout=10)
    assert bytes(served.board.commands) == data, f"seed {seed}"
    assert got == bytes(b ^ 0x5A for b in data), f"seed {seed}"


def test_serial_port_missing():
    with pytest.raises(TesseraError, match="cannot open the serial port /dev/tessera-none"):
        SerialTransport("/dev/tessera-none", 115200)
