"""The asynchronous serial line (UART, 8N1): the definition the hardware's receiver and
transmitter are checked against.

A byte travels as ten bits, each ``divisor`` clock cycles long, least significant data bit first::

    idle (1) ... | start 0 | d0 d1 d2 d3 d4 d5 d6 d7 | stop 1 | idle (1) ...

The receiver's rule, which :func:`receive` states and :class:`tessera.hw.uart.UARTReceiver`
implements: the first cycle at which a line that was high reads low is ``t0``; the start bit is
sampled at ``t0 + divisor // 2`` (a high level there is a glitch, not a start bit, and the search
starts again), data bit ``k`` at ``t0 + divisor // 2 + (k + 1) * divisor`` and the stop bit at
``t0 + divisor // 2 + 9 * divisor``. A low stop bit is a framing error: the byte is dropped and
the receiver waits for the line to go high before it looks for the next start bit.
"""

import numpy as np

from .errors import TesseraError, check_int

__all__ = [
    "FRAME_BITS",
    "MIN_DIVISOR",
    "divisor_for",
    "frame_bits",
    "line",
    "receive",
]

#: Bits on the line per byte: start, eight data bits, stop.
FRAME_BITS = 10

#: The smallest divisor (clock cycles per bit) the receiver's mid-bit sampling allows: the
#: start bit's middle must lie at least two cycles after its first low sample.
MIN_DIVISOR = 4


def divisor_for(clk_hz, baud, *, tolerance=0.01):
    """Return the clock cycles per bit for ``baud`` at ``clk_hz``, the nearest integer.

    Raises
    ------
    TesseraError
        If the divisor is below :data:`MIN_DIVISOR`, or if the rate it gives differs from ``baud``
        by more than ``tolerance`` (a receiver samples the stop bit ``9.5`` bits after the start
        edge, so the two ends together may differ by about 5%; one side should stay near 1%).
    """
    check_int(clk_hz, "clock frequency", 1, 10**10)
    check_int(baud, "baud rate", 1, 10**9)
    divisor = round(clk_hz / baud)
    if divisor < MIN_DIVISOR:
        raise TesseraError(f"{baud} baud needs at least {MIN_DIVISOR} clock cycles a bit; "
                           f"{clk_hz} Hz gives {clk_hz / baud:.2f}")
    error = abs(clk_hz / divisor - baud) / baud
    if error > tolerance:
        raise TesseraError(f"{baud} baud is not reachable from {clk_hz} Hz: the nearest divisor, "
                           f"{divisor}, is {error:.1%} off (more than {tolerance:.0%})")
    return divisor


def frame_bits(byte):
    """Return the ten line levels of ``byte``: start (0), data LSB first, stop (1)."""
    byte = check_int(byte, "byte", 0, 255)
    return (0, *((byte >> k) & 1 for k in range(8)), 1)


def line(data, divisor, *, gaps=None, stop_bits=None):
    """Return the line, one level per clock cycle, that carries ``data`` back to back.

    Parameters
    ----------
    data : sequence of int
        Bytes, 0..255.
    divisor : int
        Clock cycles per bit.
    gaps : sequence of int or None
        Idle cycles (line high) before each byte; none by default.
    stop_bits : sequence of int or None
        The stop bit's level for each byte (0 makes a framing error); 1 by default.

    Returns
    -------
    numpy.ndarray of uint8
        One level per cycle, beginning with the first byte's gap (or its start bit).
    """
    divisor = check_int(divisor, "divisor", 1, 1 << 20)
    levels = []
    for n, byte in enumerate(data):
        levels.extend([1] * (gaps[n] if gaps is not None else 0))
        bits = list(frame_bits(byte))
        if stop_bits is not None:
            bits[-1] = stop_bits[n]
        for bit in bits:
            levels.extend([bit] * divisor)
    return np.array(levels, dtype=np.uint8)


def receive(levels, divisor):
    """Return what an 8N1 receiver takes from ``levels``, one line level per clock cycle.

    The line is high before the first level. Returns ``(data, frame_errors)``: the bytes received,
    in order, and the number of frames dropped for a low stop bit. A frame cut off by the end of
    ``levels`` is not counted.
    """
    levels = np.asarray(levels)
    divisor = check_int(divisor, "divisor", MIN_DIVISOR, 1 << 20)
    data, frame_errors = [], 0
    half = divisor // 2
    t, previous = 0, 1
    while t < len(levels):
        if not (previous == 1 and levels[t] == 0):
            previous = levels[t]
            t += 1
            continue
        start = t + half
        stop = start + 9 * divisor
        if start >= len(levels):
            break
        if levels[start] == 1:                      # a glitch: search again after the sample
            t, previous = start + 1, 1
            continue
        if stop >= len(levels):
            break
        byte = sum(int(levels[start + (k + 1) * divisor]) << k for k in range(8))
        if levels[stop] == 1:
            data.append(byte)
            t, previous = stop + 1, 1
        else:
            frame_errors += 1                       # wait for the line to go high again
            t = stop + 1
            while t < len(levels) and levels[t] == 0:
                t += 1
            previous = 1
    return data, frame_errors
