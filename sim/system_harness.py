"""The co-simulation's top: :class:`tessera.hw.system.SystemTop` behind a bulk command feeder.

:class:`SystemHarness` is simulation only. The host loads the program's ``cmd`` words into a
:class:`tessera.sim.feeder.CommandFeeder` (sixteen words a transfer) while the system is held
in reset, then raises ``run``: from the first clock edge with ``run`` high the system sees
``cmd`` valid every cycle until the program ends, as :class:`tessera.golden.executor.Executor`
assumes, and its cycle counters start at that edge as after a reset. ``o`` and ``error`` are
the system's. :mod:`tessera.sim.cosim.system` drives it for
:class:`tessera.sim.system.CosimTransport`.
"""

from amaranth import Module, ResetInserter
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.isa import CMD_WIDTH, Error
from tessera.hw.system.protocol import output_layout
from tessera.hw.system.top import SystemTop
from tessera.sim.feeder import CommandFeeder, entry_layout

__all__ = ["FEED_DEPTH", "FEED_WORDS", "GOT_COUNT_WIDTH", "SystemHarness"]

#: ``cmd`` words an entry of the feeder carries (one Python transfer each).
FEED_WORDS = 16
#: Bits of the count of ``o`` words (:attr:`SystemHarness.got_count`).
GOT_COUNT_WIDTH = 16
#: Entries the feeder holds at least: 65,536 words, the setup of the digits CNN and about a
#: thousand of its images.
FEED_DEPTH = 4096


class SystemHarness(wiring.Component):
    """:class:`~tessera.hw.system.SystemTop` whose ``cmd`` is fed in bulk (simulation only).

    Parameters
    ----------
    feed_words, feed_depth : int
        The feeder's entry size (words) and depth (entries).
    **params
        :class:`~tessera.hw.system.SystemTop`'s (a ``config``, or its fields as keywords).

    Members
    -------
    load : In(stream.Signature(entry_layout(feed_words, 32)))
        Entries of ``cmd`` words (:func:`tessera.sim.feeder.pack_entries`); ready while the
        feeder has room, also while the system is held in reset.
    run : In(1)
        Low: the system is held in reset and takes no word. The system's first cycle is the
        first clock edge with ``run`` high.
    got : Out(output_layout)
        The system's last ``o`` word, registered: it changes at the clock edge after the
        transfer, together with ``got_count``. The system's ``o`` is always ready (the
        executor's cycles assume no back-pressure).
    got_count : Out(16)
        The ``o`` words the system sent, modulo 2 ** 16 (reset by ``rst``, not by ``run``).
    error : Out(4)
        The system's sticky error bits.

    Raises
    ------
    TypeError, ValueError, TesseraError
        For bad parameters (the feeder's and the system's).
    """

    def __init__(self, *, feed_words=FEED_WORDS, feed_depth=FEED_DEPTH, **params):
        self._system = SystemTop(**params)
        self._feeder = CommandFeeder(words=feed_words, width=CMD_WIDTH, depth=feed_depth)
        super().__init__({
            "load": In(stream.Signature(entry_layout(feed_words, CMD_WIDTH))),
            "run": In(1),
            "got": Out(output_layout),
            "got_count": Out(GOT_COUNT_WIDTH),
            "error": Out(len(Error)),
        })

    def elaborate(self, platform):
        m = Module()
        system, feeder = self._system, self._feeder
        m.submodules.feeder = feeder
        m.submodules.system = ResetInserter({"sync": ~self.run})(system)
        wiring.connect(m, wiring.flipped(self.load), feeder.i)
        m.d.comb += [system.cmd.payload.eq(feeder.o.payload),
                     system.cmd.valid.eq(feeder.o.valid & self.run),
                     feeder.o.ready.eq(system.cmd.ready & self.run),
                     system.o.ready.eq(1),
                     self.error.eq(system.error)]
        with m.If(system.o.valid):
            m.d.sync += [self.got.eq(system.o.payload), self.got_count.eq(self.got_count + 1)]
        return m
