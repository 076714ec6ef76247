"""The board's end of the serial link (:mod:`tessera.golden.link` defines it)."""

from .bridge import BytesToWords, WordsToBytes
from .crc import crc16_update
from .device import LinkDevice, stream_widths
from .gate import CommandGate
from .receiver import LinkReceiver, peer_ack_layout, reply_layout
from .transmitter import LinkTransmitter

__all__ = ["BytesToWords", "CommandGate", "LinkDevice", "LinkReceiver", "LinkTransmitter",
           "WordsToBytes", "crc16_update", "peer_ack_layout", "reply_layout", "stream_widths"]
