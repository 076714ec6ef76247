"""The board's end of the serial link (:mod:`tessera.golden.link` defines it)."""

from .crc import crc16_update
from .receiver import LinkReceiver, reply_layout

__all__ = ["LinkReceiver", "crc16_update", "reply_layout"]
