"""The broadcast: one non-zero activation a cycle to every PE's queue, decided a cycle ahead."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int

from .queue import column_layout

__all__ = ["Broadcast"]


class Broadcast(wiring.Component):
    """Send the non-zero detector's activations to all ``n_pes`` activation queues at once.

    The decision is a flip-flop, ``go``: high in a cycle when no queue was almost full (held
    ``depth - 1`` pairs or more, :attr:`ActivationQueue.almost_full`) in the cycle before. A
    queue with room for two then still has room after the pair sent in that cycle, so a
    broadcast never meets a full queue, and no queue's ``ready`` is needed. The AND over the
    queues' flags runs from their flip-flops to ``go``, and the fan-out of ``o.valid`` to every
    queue starts at ``go``: neither shares a cycle with the other. With a combinational
    handshake (every queue's ``ready`` ANDed, then ``valid`` to every queue) the two made one
    path, the longest of a 16-PE array on the ECP5 (issue 12).

    The cost is a cycle of latency in the back-pressure: a queue must keep one slot more free,
    and a non-zero may wait a cycle for flags that have already cleared.
    :mod:`tessera.golden.sparse_cycles` models it exactly.

    Parameters
    ----------
    n_pes : int
        Queues fed, 1..64.

    Members
    -------
    i : In(stream.Signature(column_layout))
        Non-zero activations from the detector. ``i.ready`` is ``go`` (a flip-flop, high after
        reset); it does not depend on ``i.valid``.
    almost_full : In(n_pes)
        Each queue's registered almost-full flag.
    o : Out(stream.Signature(column_layout, always_ready=True))
        The pair for every queue: ``o.valid = i.valid & go``, ``o.payload = i.payload``.
    wait : Out(1)
        A non-zero waits this cycle: ``i.valid & ~go`` (the PEs count it as a stall when their
        own flag was set).

    Raises
    ------
    TesseraError
        If ``n_pes`` is not an integer in 1..64.
    """

    def __init__(self, *, n_pes):
        self.n_pes = check_int(n_pes, "n_pes", 1, 64)
        super().__init__({
            "i": In(stream.Signature(column_layout)),
            "almost_full": In(self.n_pes),
            "o": Out(stream.Signature(column_layout, always_ready=True)),
            "wait": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        go = Signal(init=1)
        m.d.sync += go.eq(~self.almost_full.any())
        m.d.comb += [
            self.i.ready.eq(go),
            self.o.valid.eq(self.i.valid & go),
            self.o.payload.eq(self.i.payload),
            self.wait.eq(self.i.valid & ~go),
        ]
        return m
