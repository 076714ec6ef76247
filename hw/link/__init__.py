"""The board's end of the serial link (:mod:`tessera.golden.link` defines it)."""

from .crc import crc16_update
from .receiver import LinkReceiver, peer_ack_layout, reply_layout
from .transmitter import LinkTransmitter

__all__ = ["LinkReceiver", "LinkTransmitter", "crc16_update", "peer_ack_layout", "reply_layout"]
