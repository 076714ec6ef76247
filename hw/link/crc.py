"""CRC-16/CCITT-FALSE, one byte a cycle (:func:`tessera.golden.link.crc16`)."""

from amaranth import *
from tessera.golden.link import crc16

__all__ = ["crc16_update"]


def _columns():
    """For each of the 16 CRC bits and 8 data bits, the CRC bits it flips after one byte.

    The byte-wise update is linear over GF(2) in the CRC and the byte together (the initial
    value 0xFFFF is applied before the first byte, not inside the update), so golden's own
    function, applied to each single bit, gives the whole update as an XOR matrix.
    """
    crc_columns = [crc16(b"\x00", 1 << k) for k in range(16)]
    byte_columns = [crc16(bytes([1 << k]), 0) for k in range(8)]
    return crc_columns + byte_columns


def crc16_update(crc, byte):
    """Return the expression of ``crc`` (16 bits) updated with ``byte`` (8 bits): for each output
    bit, the XOR of the input bits that reach it (at most 24 inputs, one level of XOR)."""
    inputs = Cat(crc, byte)
    columns = _columns()
    bits = []
    for out in range(16):
        taps = [inputs[k] for k, column in enumerate(columns) if column >> out & 1]
        bit = C(0, 1)
        for tap in taps:
            bit = bit ^ tap
        bits.append(bit)
    return Cat(*bits)
