"""A serial port as the link's transport (pyserial): a real board, or a simulated one's pty.

:class:`SerialTransport` has what :class:`tessera.sim.link.HostLink` needs, ``write(data)`` and
``read(timeout)``; nothing else differs between a board on a USB cable and ``tessera board sim``.
"""

import select

from tessera.golden.errors import TesseraError

__all__ = ["SerialTransport"]


class SerialTransport:
    """The serial port ``port`` at ``baud``, 8N1, no flow control.

    Raises
    ------
    TesseraError
        If the port cannot be opened (one line: which port, and why).
    """

    def __init__(self, port, baud):
        import serial

        try:
            self.port = serial.Serial(port, baud, timeout=0, write_timeout=None)
        except (serial.SerialException, ValueError) as error:
            raise TesseraError(f"cannot open the serial port {port}: {error}; is the board "
                               "connected (or 'tessera board sim' running)?") from None

    def write(self, data):
        """Send ``data``; return when the operating system has taken all of it."""
        self.port.write(bytes(data))

    def read(self, timeout):
        """Return the bytes that arrive within ``timeout`` seconds (as soon as any arrive;
        possibly none)."""
        waiting = self.port.in_waiting
        if not waiting:
            ready, _, _ = select.select([self.port.fileno()], [], [], max(timeout, 0.0))
            if not ready:
                return b""
            waiting = max(self.port.in_waiting, 1)
        return self.port.read(waiting)

    def close(self):
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
