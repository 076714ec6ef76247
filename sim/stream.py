"""One stream-driver family for ``amaranth.lib.stream`` interfaces, on the cocotb side.

A stream ``<name>`` of the design under test is three Verilog ports, ``<name>__valid``,
``<name>__ready`` and ``<name>__payload``. This module drives and watches them:

- :class:`StreamSource` sends integer payloads (bulk: a list, a NumPy array, or wide words given
  as a ``(count, chunks)`` uint64 array), with a pluggable *pause* pattern that gaps ``valid``;
- :class:`StreamSink` takes payloads, with a pause pattern that drops ``ready`` (back-pressure);
- :class:`StreamMonitor` records the transfers of a stream that others drive;
- :func:`pause_pattern` makes the seeded patterns the tests use.

**Pause patterns** follow cocotbext-axi's meaning: an item that is true *pauses* the stream for
that clock cycle (``valid`` or ``ready`` low). A pattern is any finite sequence of booleans,
repeated; item ``i`` applies to the ``i``-th rising edge after the driver was made (the pattern
runs free, whether or not there is data). ``None`` (or a pattern that never pauses) means no
pause at all.

**Protocol.** A source never lets ``valid`` wait for ``ready`` and holds the payload until the
transfer happens (the rules of ``amaranth.lib.stream``); a word queued by a coroutine that a
rising edge (or anything after it) woke is offered at once, for the next edge. A transfer is
a rising edge at which ``valid`` and ``ready`` are both high.

**Cost.** Every driver of one clock is served by one coroutine that wakes once per rising edge,
and only while some driver needs every cycle: a source with a word to offer, a sink with a pause
pattern or with ``valid`` high. A source whose word the design does not take, a sink (without
pause) whose ``valid`` is low and a monitor of an idle stream sleep until ``ready`` or ``valid``
rises; an idle source sleeps until something is sent. Long computations without traffic cost no
Python at all.

**Hangs.** One policy for every wait (:meth:`StreamSource.wait_idle`,
:meth:`StreamSink.wait_for`, :func:`bounded`): when ``hang_cycles`` clock cycles pass without a
transfer on the stream waited for, the wait raises :class:`StreamHang`, whose message names the
stream, the cycle and what was still outstanding.
"""

from collections import deque

import numpy as np

__all__ = [
    "CLOCK_NS",
    "HANG_CYCLES",
    "StreamHang",
    "StreamMonitor",
    "StreamSink",
    "StreamSource",
    "bounded",
    "pause_pattern",
]

#: Clock period (ns) assumed for a clock not started by :func:`register_clock`.
CLOCK_NS = 10

#: Default of every driver's ``hang_cycles``: cycles without a transfer after which a wait fails.
HANG_CYCLES = 10_000

#: Consecutive cycles a held word waits for ``ready`` (or a sink for ``valid``) before its driver
#: stops polling and sleeps until the signal rises: short waits are cheaper to poll.
_POLL_CYCLES = 2

#: clock handle -> (time of its first rising edge, period), in ns.
_clocks = {}
#: clock handle -> its _Ticker.
_tickers = {}


class StreamHang(AssertionError):
    """A wait on a stream saw no transfer for ``hang_cycles`` cycles (a hang, not a slow design)."""


def pause_pattern(kind, seed=0, length=64):
    """Return a repeating pause pattern (a tuple of bools, true = paused) for a driver.

    ``kind`` is

    - ``"always"``: never paused (returns ``()``);
    - ``"alternate"``: paused every other cycle (``(False, True)``);
    - ``"bursty"``: paused one cycle in four (``(False, False, False, True)``), the complement of
      the four-cycle example in cocotbext-axi's README (``cycle([1, 1, 1, 0])``), which pauses
      three cycles in four;
    - ``"random"``: each of ``length`` cycles paused with probability 1/2, drawn from ``seed``.

    Raises
    ------
    ValueError
        For another ``kind``.
    """
    if kind == "always":
        return ()
    if kind == "alternate":
        return (False, True)
    if kind == "bursty":
        return (False, False, False, True)
    if kind == "random":
        return tuple(not x for x in np.random.default_rng(seed).integers(0, 2, length))
    raise ValueError(f"pause pattern must be one of 'always', 'alternate', 'bursty', 'random', "
                     f"not {kind!r}")


def register_clock(clk, period_ns, start_ns):
    """Record that ``clk`` rises every ``period_ns`` from ``start_ns`` (for pause patterns and
    cycle numbers in messages); :func:`tessera.sim.tb.start_clock` calls it."""
    _clocks[clk] = (start_ns, period_ns)


def _now():
    import cocotb.simtime

    return cocotb.simtime.get_sim_time("ns")


def _cycle(clk):
    """Number of the last rising edge of ``clk`` at or before now (0 is the first)."""
    start, period = _clocks.get(clk, (0, CLOCK_NS))
    return int((_now() - start) / period + 1e-6)


def _high(signal):
    """True when a one-bit signal is 1 (X and Z, before reset, count as 0)."""
    try:
        return int(signal.value) == 1
    except ValueError:
        return False


def _pattern(pause):
    pause = tuple(bool(p) for p in pause) if pause is not None else ()
    return pause if any(pause) else None


async def bounded(trigger, *, clk, cycles, name, what, progress=lambda: None):
    """Await ``trigger()`` (a fresh trigger each call) under the hang policy.

    Raises :class:`StreamHang` naming ``name``, the cycle and ``what`` (a string, or a callable
    giving one) when ``cycles`` clock cycles pass and ``progress()`` (any value that changes
    with a transfer) has not changed: a hang is reported between ``cycles`` and twice
    ``cycles`` cycles after the last transfer.
    """
    from cocotb.triggers import First, Timer

    _, period = _clocks.get(clk, (0, CLOCK_NS))
    while True:
        before = progress()
        timeout = Timer(cycles * period, unit="ns")
        if await First(trigger(), timeout) is not timeout:
            return
        if progress() == before:
            what = what() if callable(what) else what
            raise StreamHang(f"stream {name!r} hangs at cycle {_cycle(clk)}: no transfer for "
                             f"{cycles} cycles while waiting for {what}")


class _Ticker:
    """One coroutine per clock that calls ``_tick`` of every driver needing each rising edge."""

    def __init__(self, clk):
        import cocotb
        from cocotb.triggers import Event, RisingEdge

        self.edge = RisingEdge(clk)
        self.drivers = []
        self.wake = Event()
        self.task = cocotb.start_soon(self._run())

    def add(self, driver):
        if driver not in self.drivers:
            self.drivers.append(driver)
            self.wake.set()

    def remove(self, driver):
        if driver in self.drivers:
            self.drivers.remove(driver)

    async def _run(self):
        edge = self.edge
        drivers = self.drivers
        while True:
            if not drivers:
                self.wake.clear()
                await self.wake.wait()
                continue
            await edge
            now = _now()
            for driver in tuple(drivers):
                driver._tick(now)


def _ticker(clk):
    ticker = _tickers.get(clk)
    if ticker is None or ticker.task.done():
        ticker = _tickers[clk] = _Ticker(clk)
    return ticker


class _Driver:
    """What the three drivers share: ports, the clock's ticker, sleeping on a rising signal."""

    def __init__(self, dut, name, hang_cycles):
        import cocotb
        from cocotb.triggers import Event

        self.name = name
        self.clk = dut.clk
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.width = len(self.payload)
        self.hang_cycles = int(hang_cycles)
        self.transfers = 0
        # Time of the last edge handled: never handle one twice, and never an edge at the time
        # the driver starts or is given work (that edge has already sampled the stream).
        self._last = _now()
        self._waits = 0             # consecutive edges spent waiting for the signal to rise
        self._ticker = _ticker(self.clk)
        self._clock = _clocks.get(self.clk, (0, CLOCK_NS))
        self._sleep_on = None       # the signal whose rising edge the sleeper waits for
        self._asleep = Event()
        self._sleeper = cocotb.start_soon(self._sleep())

    def _next_edge(self, now):
        """Number of the first rising edge after time ``now`` (0 is the clock's first)."""
        start, period = self._clock
        return int((now - start) / period + 1e-6) + 1

    def _count_wait(self, signal):
        """Count an edge spent waiting for ``signal``; after ``_POLL_CYCLES`` of them in a row,
        doze until it rises."""
        self._waits += 1
        if self._waits >= _POLL_CYCLES:
            self._waits = 0
            self._doze(signal)

    def _doze(self, signal):
        """Stop being ticked until ``signal`` rises (then handle the next edge and resume)."""
        self._ticker.remove(self)
        self._sleep_on = signal
        self._asleep.set()

    async def _sleep(self):
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self.clk)
        while True:
            await self._asleep.wait()
            self._asleep.clear()
            await RisingEdge(self._sleep_on)
            self._sleep_on = None
            # A fresh edge after the rise: the rise may have come with the edge just handled.
            await edge
            self._tick(_now())
            if self._sleep_on is None and self._wants_ticks():
                self._ticker.add(self)

    def _wants_ticks(self):
        return True

    def stop(self):
        """Stop driving (signals keep their last values); the driver is then unusable."""
        self._ticker.remove(self)
        self._sleeper.cancel()

    async def _wait(self, done, event, what):
        if done():
            return
        event.clear()
        await bounded(event.wait, clk=self.clk, cycles=self.hang_cycles, name=self.name,
                      what=what, progress=lambda: self.transfers)


class StreamSource(_Driver):
    """Drive the stream ``<name>`` of ``dut`` with integer payloads.

    Parameters
    ----------
    dut
        The design (with a clock ``clk``).
    name : str
        The stream's port prefix.
    pause : sequence of bool, optional
        Pause pattern of ``valid`` (true = no new word offered that cycle; see the module
        docstring and :func:`pause_pattern`). A word already offered is held whatever the
        pattern says.
    hang_cycles : int
        Limit of :meth:`wait_idle` (see the module docstring).

    Attributes
    ----------
    sent : int
        Payloads transferred so far.
    """

    def __init__(self, dut, name, *, pause=None, hang_cycles=HANG_CYCLES):
        from cocotb.triggers import Event

        self._queue = deque()
        self._pause = _pattern(pause)
        self._shown = False         # queue[0] is on the payload with valid high
        self._high = False          # valid is high
        self._drained = Event()
        super().__init__(dut, name, hang_cycles)
        self._origin = self._next_edge(_now())
        self._mask = (1 << self.width) - 1
        self.valid.value = 0

    @property
    def sent(self):
        return self.transfers

    @property
    def idle(self):
        """True once every queued payload has been transferred."""
        return not self._queue

    @property
    def pending(self):
        """Number of payloads queued and not yet transferred."""
        return len(self._queue)

    def send(self, words):
        """Queue payloads: ints (negative ones are sent in two's complement), an integer NumPy
        array, or a ``(count, chunks)`` uint64 array of words wider than 64 bits
        (:func:`tessera.sim.host.words.words_to_array`)."""
        if isinstance(words, np.ndarray):
            if words.ndim == 2:
                from tessera.sim.host.words import array_to_words

                words = array_to_words(words)
            else:
                words = words.tolist()
        mask = self._mask
        self._queue.extend(int(w) & mask for w in words)
        if self._queue and not self._shown and self._sleep_on is None:
            self._last = now = _now()
            self._offer(now)
            self._ticker.add(self)

    def clear(self):
        """Drop every queued payload and lower ``valid`` (for a reset in the middle)."""
        self._queue.clear()
        self._shown = False
        self._ticker.remove(self)
        if self._sleep_on is not None:          # wake the sleeper on nothing: cancel it
            self._sleeper.cancel()
            import cocotb

            self._sleep_on = None
            self._sleeper = cocotb.start_soon(self._sleep())
        self.valid.value = 0
        self._high = False
        self._drained.set()

    async def wait_idle(self):
        """Wait until every queued payload has been transferred (hang policy applies)."""
        await self._wait(lambda: not self._queue, self._drained,
                         lambda: f"{len(self._queue)} more words to be taken")

    def _offer(self, now):
        """Offer the next word for the next edge unless the pattern pauses it (or drop valid)."""
        if self._queue:
            pause = self._pause
            if pause is None or not pause[(self._next_edge(now) - self._origin) % len(pause)]:
                self.payload.value = self._queue[0]
                self._shown = True
                if not self._high:
                    self.valid.value = self._high = 1
                return
        if self._high:
            self.valid.value = self._high = 0

    def _tick(self, now):
        if now == self._last:
            return
        self._last = now
        if self._shown:
            if not _high(self.ready):
                self._count_wait(self.ready)
                return
            self._waits = 0
            self._queue.popleft()
            self._shown = False
            self.transfers += 1
        self._offer(now)
        if not self._queue:
            self._ticker.remove(self)
            self._drained.set()

    def _wants_ticks(self):
        return bool(self._queue)


class StreamSink(_Driver):
    """Take the payloads of the stream ``<name>`` of ``dut``.

    Parameters
    ----------
    dut, name
        As for :class:`StreamSource`.
    pause : sequence of bool, optional
        Pause pattern of ``ready`` (true = ``ready`` low that cycle). Without one, ``ready`` is
        high from the start.
    signed : bool
        Read payloads as two's complement.
    hang_cycles : int
        Limit of :meth:`wait_for`.

    Attributes
    ----------
    received : list of int
        Every payload taken, in order (a caller may clear it).
    """

    def __init__(self, dut, name, *, pause=None, signed=False, hang_cycles=HANG_CYCLES):
        from cocotb.triggers import Event

        self.received = []
        self.signed = bool(signed)
        self._pause = _pattern(pause)
        self._want = None
        self._arrived = Event()
        super().__init__(dut, name, hang_cycles)
        self._origin = self._next_edge(_now())
        if self._pause is None:
            self._ready = 1
            self.ready.value = 1
            if _high(self.valid):
                self._ticker.add(self)
            else:
                self._doze(self.valid)
        else:
            self._ready = int(not self._pause[0])
            self.ready.value = self._ready
            self._ticker.add(self)

    async def wait_for(self, count):
        """Wait until ``count`` payloads have been received in all; return the first ``count``."""
        def done():
            return len(self.received) >= count

        if not done():
            self._want = count
        await self._wait(done, self._arrived,
                         lambda: f"payload {count} ({len(self.received)} received)")
        return self.received[:count]

    def _tick(self, now):
        if now == self._last:
            return
        self._last = now
        valid = _high(self.valid)
        if valid and self._ready:
            value = self.payload.value
            self.received.append(value.to_signed() if self.signed else value.to_unsigned())
            self.transfers += 1
            if self._want is not None and len(self.received) >= self._want:
                self._want = None
                self._arrived.set()
        pause = self._pause
        if pause is not None:
            ready = int(not pause[(self._next_edge(now) - self._origin) % len(pause)])
            if ready != self._ready:
                self.ready.value = self._ready = ready
        elif not valid:
            self._count_wait(self.valid)
        else:
            self._waits = 0


class StreamMonitor(_Driver):
    """Record the transfers of the stream ``<name>`` of ``dut`` without driving it.

    Attributes
    ----------
    transfers : int
        Transfers seen.
    payloads : list of int
        Their payloads (unsigned), when made with ``record=True``.
    edges : list of int
        The number of the rising edge of each transfer (0 is the clock's first edge), when made
        with ``record=True``.
    """

    def __init__(self, dut, name, *, record=True):
        self.payloads = [] if record else None
        self.edges = [] if record else None
        super().__init__(dut, name, HANG_CYCLES)
        self._ticker.add(self)

    def _tick(self, now):
        if now == self._last:
            return
        self._last = now
        if not _high(self.valid):
            self._count_wait(self.valid)
            return
        self._waits = 0
        if _high(self.ready):
            self.transfers += 1
            if self.payloads is not None:
                self.payloads.append(self.payload.value.to_unsigned())
                self.edges.append(self._next_edge(now) - 1)
