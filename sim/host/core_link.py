"""A core's command and output words over the serial link (:class:`tessera.sim.link.HostLink`).

The board's bridge (:class:`tessera.hw.link.LinkDevice`) turns payload bytes into command words
and output words into bytes, each word little-endian in ``ceil(width / 8)`` bytes
(:func:`tessera.golden.link.words_to_bytes`); this is the host's side of the same rule.
"""

from tessera.golden.link import bytes_to_words, word_bytes, words_to_bytes

__all__ = ["CoreLink"]


class CoreLink:
    """Send command words to a core behind ``link`` and read its output words back.

    Parameters
    ----------
    link : tessera.sim.link.HostLink
        A connected link.
    command_width, output_width : int
        The core's stream widths (:func:`tessera.hw.link.stream_widths`).
    signed : bool
        Read output words as two's complement (the sparse array's are int32).
    """

    def __init__(self, link, command_width, output_width, *, signed=True):
        self.link, self.command_width, self.output_width = link, command_width, output_width
        self.signed = signed
        self.bytes_sent = self.bytes_received = 0

    def send(self, words):
        """Send ``words``; return when the board has taken them all."""
        data = words_to_bytes(words, self.command_width)
        self.link.send(data)
        self.bytes_sent += len(data)

    def receive(self, count, *, timeout=5.0):
        """Return the core's next ``count`` output words."""
        data = self.link.receive(count * word_bytes(self.output_width), timeout=timeout)
        self.bytes_received += len(data)
        return bytes_to_words(data, self.output_width, signed=self.signed)
