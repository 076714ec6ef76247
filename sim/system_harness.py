"""The co-simulation's top: :class:`tessera.hw.system.SystemTop` behind a bulk command feeder.

:class:`SystemHarness` is simulation only. The host loads the program's ``cmd`` words into a
:class:`tessera.sim.feeder.CommandFeeder` (sixteen words a transfer) while the system is held
in reset, then raises ``run``: from its first cycle out of reset the system sees ``cmd`` valid
every cycle until the program ends, as :class:`tessera.golden.executor.Executor` assumes, and
its cycle counters start as after a reset. :mod:`tessera.sim.cosim.system` drives it for
:class:`tessera.sim.system.CosimTransport`.
"""

from amaranth import ClockDomain, Module, ResetInserter, Signal
from amaranth.lib import wiring
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

    Every input is registered before it reaches the feeder or the system, the reset too (a
    domain reset straight from an input feeds the next-state logic of every register). So no
    logic depends combinationally on an input, and Verilator's
    input region (``ico``), which it evaluates at every evaluation of the model, holds almost
    nothing: with the clock inside the simulator (:mod:`tessera.sim.simclock`) the falling
    edge costs next to nothing.

    Parameters
    ----------
    feed_words, feed_depth : int
        The feeder's entry size (words) and depth (entries).
    **params
        :class:`~tessera.hw.system.SystemTop`'s (a ``config``, or its fields as keywords).

    Members
    -------
    clk : In(1)
    reset : In(1)
        Registered, then the reset of the ``sync`` domain (held from the start until the
        first edge after ``reset`` is low).
    load : In(entry_layout(feed_words, 32))
        An entry of ``cmd`` words (:func:`tessera.sim.feeder.pack_entries`), taken at each
        clock edge where ``load_valid`` is high and written to the feeder at the next. The
        feeder must have room: the host loads at most ``feed_depth`` entries.
    load_valid : In(1)
    run : In(1)
        Registered: the system is held in reset until the edge after ``run`` rises, and its
        first cycle is the edge after that. Raise it only after the whole program is loaded
        (two edges after the last ``load_valid``).
    got : Out(output_layout)
        The system's last ``o`` word, registered: it changes at the clock edge of the
        transfer, together with ``got_count``. The system's ``o`` is always ready (the
        executor's cycles assume no back-pressure).
    got_count : Out(16)
        The ``o`` words the system sent, modulo 2 ** 16.
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
            "clk": In(1),
            "reset": In(1),
            "load": In(entry_layout(feed_words, CMD_WIDTH)),
            "load_valid": In(1),
            "run": In(1),
            "got": Out(output_layout),
            "got_count": Out(GOT_COUNT_WIDTH),
            "error": Out(len(Error)),
        })

    def elaborate(self, platform):
        m = Module()
        m.domains.raw = raw = ClockDomain("raw", reset_less=True)
        m.domains.sync = sync = ClockDomain("sync")
        reset = Signal(init=1)
        m.d.raw += reset.eq(self.reset)
        m.d.comb += [raw.clk.eq(self.clk), sync.clk.eq(self.clk), sync.rst.eq(reset)]
        system, feeder = self._system, self._feeder
        run = Signal()
        load = Signal.like(self.load)
        load_valid = Signal()
        m.d.sync += [run.eq(self.run), load.eq(self.load), load_valid.eq(self.load_valid)]
        m.submodules.feeder = feeder
        m.submodules.system = ResetInserter({"sync": ~run})(system)
        m.d.comb += [feeder.i.payload.eq(load), feeder.i.valid.eq(load_valid),
                     system.cmd.payload.eq(feeder.o.payload),
                     system.cmd.valid.eq(feeder.o.valid & run),
                     feeder.o.ready.eq(system.cmd.ready & run),
                     system.o.ready.eq(1),
                     self.error.eq(system.error)]
        with m.If(system.o.valid):
            m.d.sync += [self.got.eq(system.o.payload), self.got_count.eq(self.got_count + 1)]
        return m
