"""A core behind the serial link: two UART pins in front of any command/result stream core."""

from amaranth import *
from amaranth.hdl import Shape
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import TesseraError, check_int
from tessera.hw.uart import UARTReceiver, UARTTransmitter

from .bridge import BytesToWords, WordsToBytes
from .gate import CommandGate
from .receiver import LinkReceiver
from .transmitter import LinkTransmitter

__all__ = ["LinkDevice", "stream_widths"]


def stream_widths(core, command="i"):
    """Return ``(command width, output width)`` of ``core``: the payload widths of its
    ``command`` (in; ``i`` by default, ``cmd`` on the system top) and ``o`` (out) stream members.

    Raises
    ------
    TesseraError
        If ``core`` has no such members.
    """
    members = getattr(core, "signature", None)
    members = members.members if members is not None else {}
    widths = []
    for name, flow in ((command, In), ("o", Out)):
        member = members[name] if name in members else None
        if (member is None or not member.is_signature or member.flow != flow
                or "payload" not in member.signature.members):
            raise TesseraError(f"a core must have an {'input' if flow == In else 'output'} "
                               f"stream member {name!r}: {core!r} has none")
        widths.append(Shape.cast(member.signature.members["payload"].shape).width)
    return tuple(widths)


class LinkDevice(wiring.Component):
    """``core`` behind the link: UART receiver -> :class:`LinkReceiver` -> :class:`BytesToWords`
    -> the core's command stream; ``core.o`` -> :class:`WordsToBytes` -> :class:`LinkTransmitter`
    -> UART transmitter.

    The host sends the core's command words as the payload of DATA frames and reads its output
    words back (:func:`tessera.golden.link.words_to_bytes`, each word little-endian in
    ``ceil(width / 8)`` bytes); the link's guarantees (every byte exactly once, in order) are
    :mod:`tessera.golden.link`'s. The core sees an ordinary stream with back-pressure: a core
    that does not take commands fills the receiver's buffer and the host waits for credit; a
    host that does not acknowledge results fills the transmitter's ring and stalls ``core.o``.

    Parameters
    ----------
    core : wiring.Component
        Any component with an input stream of commands (member ``command``) and an ``o``
        output stream (results) of fixed widths, in the ``sync`` domain. Its other members (the
        system top's ``error``) are left unconnected.
    command : str
        The name of the core's command stream: ``i`` (default; the sparse array) or ``cmd``
        (the system top).
    divisor : int
        Clock cycles per UART bit.
    buffer_bytes, max_payload, quiet_cycles
        The :class:`LinkReceiver`'s (commands).
    result_payload, window, results_bytes, retransmit_cycles, flush_cycles
        The :class:`LinkTransmitter`'s (results; ``result_payload`` is its ``max_payload``).
    gate_words : int
        0 (default: words go straight to the core), or the depth of a :class:`CommandGate`
        between the bridge and the core, so that a burst of commands (one frame, at most
        ``gate_words`` words) reaches the core without a gap; its ``quiet_cycles`` is one UART
        byte time (``10 * divisor``), shorter than any pause between frames and longer than any
        within one.
    result_words : int
        0 (default), or the depth of a FIFO between ``core.o`` and the bridge, so that a burst of
        up to ``result_words`` output words leaves the core one a cycle (the bridge takes one
        every ``ceil(width / 8)`` cycles).

    Members
    -------
    rx : In(1, init=1)
        The UART line from the host.
    tx : Out(1, init=1)
        The UART line to the host.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)

    def __init__(self, core, *, divisor, command="i", buffer_bytes=1024, max_payload=1024,
                 quiet_cycles=1000, result_payload=256, window=4, results_bytes=1024,
                 retransmit_cycles=100_000, flush_cycles=1000, gate_words=0, result_words=0):
        self.core, self._command = core, command
        self.command_width, self.output_width = stream_widths(core, command)
        # Build the parts here, so that bad parameters are reported at construction.
        self._urx = UARTReceiver(divisor=divisor)
        self._utx = UARTTransmitter(divisor=divisor)
        self._lrx = LinkReceiver(buffer_bytes=buffer_bytes, max_payload=max_payload,
                                 quiet_cycles=quiet_cycles)
        self._ltx = LinkTransmitter(buffer_bytes=buffer_bytes, max_payload=result_payload,
                                    window=window, results_bytes=results_bytes,
                                    retransmit_cycles=retransmit_cycles,
                                    flush_cycles=flush_cycles)
        self._words = BytesToWords(self.command_width)
        self._bytes = WordsToBytes(self.output_width)
        check_int(gate_words, "gate_words", 0, 65536)
        check_int(result_words, "result_words", 0, 65536)
        self._gate = (CommandGate(self.command_width, depth=gate_words,
                                  quiet_cycles=10 * divisor) if gate_words else None)
        self._results = (SyncFIFOBuffered(width=self.output_width, depth=result_words)
                         if result_words else None)
        super().__init__()

    @property
    def divisor(self):
        return self._urx.divisor

    def elaborate(self, platform):
        m = Module()
        urx, utx, lrx, ltx = self._urx, self._utx, self._lrx, self._ltx
        words, out_bytes, core = self._words, self._bytes, self.core
        m.submodules.uart_rx, m.submodules.uart_tx = urx, utx
        m.submodules.link_rx, m.submodules.link_tx = lrx, ltx
        m.submodules.words, m.submodules.bytes, m.submodules.core = words, out_bytes, core
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        wiring.connect(m, urx.o, lrx.i)
        wiring.connect(m, lrx.reply, ltx.reply)
        m.d.comb += [ltx.credit.eq(lrx.credit), ltx.peer_ack.eq(lrx.peer_ack),
                     ltx.new_session.eq(lrx.new_session)]
        wiring.connect(m, lrx.o, words.i)
        incoming = words.o
        if self._gate is not None:
            m.submodules.gate = self._gate
            wiring.connect(m, words.o, self._gate.i)
            incoming = self._gate.o
        outgoing = out_bytes.i
        if self._results is not None:
            m.submodules.results = self._results
            wiring.connect(m, self._results.r_stream, out_bytes.i)
            outgoing = self._results.w_stream
        # The core's payloads are layouts or signed shapes: the bridge carries their bits.
        commands = getattr(core, self._command)
        m.d.comb += [commands.payload.eq(incoming.payload), commands.valid.eq(incoming.valid),
                     incoming.ready.eq(commands.ready)]
        m.d.comb += [outgoing.payload.eq(core.o.payload), outgoing.valid.eq(core.o.valid),
                     core.o.ready.eq(outgoing.ready)]
        wiring.connect(m, out_bytes.o, ltx.i)
        wiring.connect(m, ltx.o, utx.i)
        return m

