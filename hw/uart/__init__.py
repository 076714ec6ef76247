"""An 8N1 UART: :class:`UARTReceiver` and :class:`UARTTransmitter` (the line format is
:mod:`tessera.golden.uart`)."""

from .rx import UARTReceiver, rx_error_layout
from .tx import UARTTransmitter

__all__ = ["UARTReceiver", "UARTTransmitter", "rx_error_layout"]
