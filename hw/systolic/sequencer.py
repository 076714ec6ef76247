"""The sequencers: they tile a GEMM over the array and schedule every pass, edge by edge.

- :class:`WSSequencer` (weight-stationary): a weight *loader* shifts the next (K-tile, N-tile)
  tile of B into the array's shadow registers while a *feeder* streams rows of A through the
  current one; partial sums of a group (M-tile, N-tile) accumulate over the K-tiles in one half
  of the accumulator bank.
- :class:`OSSequencer` (output-stationary): a *feeder* streams K steps of A columns and B rows
  per R x C output tile; starting the next tile captures the finished one, and a *capture
  controller* shifts it out of the array into the bank.

Both read operands as soon as they have arrived in the buffers (they compare addresses with the
buffers' word counts), never write a half of the bank before the drain has released it, and
follow the schedule that :func:`tessera.golden.systolic.gemm_cycles` predicts cycle for cycle.
"""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..pe import MACPE
from .skew import tapped_delay

__all__ = ["OSSequencer", "WSSequencer"]


def _min(a, b):
    return Mux(a < b, a, b)


class _Sequencer(wiring.Component):
    """What both schedules share: the configuration check and every member but the array's.

    A subclass names its dataflow (``_dataflow``, ``"ws"`` or ``"os"``) and the 1-bit controls
    it drives into the array (``_controls``).

    Parameters
    ----------
    config : tessera.golden.systolic.SystolicConfig
        A configuration of the subclass's dataflow.

    Members
    -------
    start : In(1)
        Begin a GEMM of ``m`` x ``k`` x ``n``.
    m, k, n : In
        The GEMM's dimensions, held until the next ``start`` (the schedule reads them
        throughout).
    a_count, b_count : In
        Words in the A and B buffers.
    release : In(2)
        The drain has read the last result of bank half ``b``.

    Raises
    ------
    ValueError
        If ``config`` has the other dataflow.
    """

    _dataflow = None
    _controls = ()

    def __init__(self, config):
        if config.dataflow != self._dataflow:
            kind = {"ws": "a weight-stationary", "os": "an output-stationary"}[self._dataflow]
            raise ValueError(f"{type(self).__name__} needs {kind} configuration, not "
                             f"{config.dataflow!r}")
        self.config = config
        super().__init__({
            "start": In(1),
            "m": In(range(config.max_m + 1)),
            "k": In(range(config.max_k + 1)),
            "n": In(range(config.max_n + 1)),
            "a_count": In(range(config.a_depth + 1)),
            "b_count": In(range(config.b_depth + 1)),
            "a_raddr": Out(range(config.a_depth)),
            "a_ren": Out(1),
            "b_raddr": Out(range(config.b_depth)),
            "b_ren": Out(1),
            "release": In(2),
            "acc_valid": Out(1),
            "acc_addr": Out(range(2 * config.tile_m)),
            "acc_add": Out(1),
            "acc_last": Out(1),
            "acc_final": Out(1),
            **{name: Out(1) for name in self._controls},
        })


class WSSequencer(_Sequencer):
    """Weight-stationary schedule: passes over (M-tile, N-tile, K-tile), weights double-buffered.

    Takes a weight-stationary configuration; the members it shares with :class:`OSSequencer`
    are described in :class:`_Sequencer`.

    Members
    -------
    a_raddr, a_ren : Out
        Read a row of A (``rows`` lanes of the K-tile); the array takes the data after the
        edge with :attr:`first`.
    first : Out(1)
        The row read at the last edge is the first of its pass (a new weight tile).
    b_raddr, b_ren : Out
        Read a row of the next weight tile, bottom row first.
    w_zero, shift : Out(1)
        The weight row read at the last edge is past K (shift in zeros), and is to be shifted
        into the array (``shift``).
    acc_valid, acc_addr, acc_add, acc_last, acc_final : Out
        Column 0's control for the accumulator bank, R + P - 1 cycles after :attr:`first`'s
        row (``P = MACPE.LATENCY``, the PE's pipeline):
        write row ``acc_addr``, adding to it (``acc_add``, not on the first K-tile), ``acc_last``
        on the last row of a group, ``acc_final`` on every row of a group's last K-tile (its
        sum is then complete: the drain may read it).

    Schedule
    --------
    The load of pass ``p`` starts R cycles after pass ``p - 1``'s first row issued (when its
    weight swap has swept all R rows and the shadow registers are free) and once B's rows for
    it have arrived; it takes R cycles. Pass ``p``'s first row issues
    the cycle after its load, after pass ``p - 1``'s last row, and, for the first pass of a
    group, after the drain has released the group's half of the bank. Rows follow one per cycle
    as A arrives.
    """

    _dataflow = "ws"
    _controls = ("first", "w_zero", "shift")

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        r, c, tm = cfg.rows, cfg.cols, cfg.tile_m
        M, K, N = self.m, self.k, self.n
        # Every address and every threshold the schedule compares against is a register: the
        # walks keep "next" values (k0 + R, n0 + C, m0 + tm) so that each decision is one
        # comparison of two registers, and no adder feeds a block RAM's address.
        kw = range(cfg.max_k + r + 1)
        nw = range(cfg.max_n + c + 1)
        mw = range(cfg.max_m + tm + 1)

        busy = Signal(2)          # bank halves being written or waiting for the drain
        loaded = Signal()         # the shadow registers hold the next pass's tile
        swap_wait = Signal(range(r + 1))

        # -- Loader: walks the passes one load ahead of the feeder. ---------------------------
        l_knext, l_nnext, l_mnext = Signal(kw), Signal(nw), Signal(mw)   # k0 + R, n0 + C, ...
        l_nbase = Signal(range(cfg.b_depth + cfg.max_k + 1))            # nt * K
        l_active = Signal()
        l_loading = Signal()
        l_row = Signal(range(r))
        # Derived from the walk one cycle later (a load never starts within two cycles of the
        # walk's step): words of B the load needs, its first (bottom) row's address, and how
        # many of its rows lie past K (shifted in as zeros).
        need = Signal(range(cfg.b_depth + 1))
        addr0 = Signal(range(cfg.b_depth + cfg.max_k + r + 1))
        zeros0 = Signal(range(r))
        m.d.sync += [
            need.eq(l_nbase + _min(l_knext, K)),
            addr0.eq(l_nbase + l_knext - 1),
            zeros0.eq(Mux(l_knext > K, l_knext - K, 0)),
        ]
        addr = Signal.like(addr0)
        zeros = Signal.like(zeros0)
        go_load = l_active & ~l_loading & ~loaded & (swap_wait == 0) & (self.b_count >= need)
        reading = go_load | l_loading
        row_addr = Mux(l_loading, addr, addr0)
        row_zero = Mux(l_loading, zeros, zeros0) != 0
        m.d.comb += [self.b_raddr.eq(row_addr), self.b_ren.eq(reading & ~row_zero)]
        m.d.sync += [self.shift.eq(reading), self.w_zero.eq(row_zero)]
        with m.If(reading):
            m.d.sync += [
                addr.eq(row_addr - 1),
                zeros.eq(Mux(row_zero, Mux(l_loading, zeros, zeros0) - 1, 0)),
            ]
            with m.If(l_row == r - 1):
                # The tile is in the shadow registers: the walk moves to the next pass.
                m.d.sync += [l_loading.eq(0), l_row.eq(0), loaded.eq(1)]
                last_k, last_n, last_m = l_knext >= K, l_nnext >= N, l_mnext >= M
                with m.If(last_k & last_n & last_m):
                    m.d.sync += l_active.eq(0)
                with m.If(~last_k):
                    m.d.sync += l_knext.eq(l_knext + r)
                with m.Else():
                    m.d.sync += l_knext.eq(r)
                    with m.If(~last_n):
                        m.d.sync += [l_nnext.eq(l_nnext + c), l_nbase.eq(l_nbase + K)]
                    with m.Else():
                        m.d.sync += [l_nnext.eq(c), l_nbase.eq(0), l_mnext.eq(l_mnext + tm)]
            with m.Else():
                m.d.sync += [l_loading.eq(1), l_row.eq(l_row + 1)]

        # -- Feeder. ----------------------------------------------------------------------------
        f_knext, f_nnext, f_mnext = Signal(kw), Signal(nw), Signal(mw)
        f_rest = Signal(range(-tm, cfg.max_m + 1))       # M - (m0 + tm): rows after this tile
        f_mm1 = Signal(range(tm))                        # rows of the M-tile, minus one
        f_group = Signal(range(cfg.a_depth + 1))         # A address of the M-tile
        f_addr = Signal(range(cfg.a_depth + 1))          # A address of the next row
        f_left = Signal(range(tm))                       # rows after the next one in the pass
        f_bank = Signal()
        f_first_k = Signal()                             # the pass is the group's first
        f_acc = Signal(range(2 * tm))                    # bank entry of the next row
        f_feeding = Signal()
        f_active = Signal()
        f_last_k, f_last_n, f_last_m = f_knext >= K, f_nnext >= N, f_mnext >= M
        # Rows of the next M-tile, minus one, two cycles behind `f_rest`. M-tile changes come at
        # least 3 cycles apart (a pass takes 3 cycles or more), except when the second enters
        # the last, partial tile, after which nothing reads this value.
        f_rest_short = Signal()
        f_rest_m1 = Signal(range(tm))
        f_next_mm1 = Signal(range(tm))
        m.d.sync += [f_rest_short.eq(f_rest < tm), f_rest_m1.eq(f_rest - 1),
                     f_next_mm1.eq(Mux(f_rest_short, f_rest_m1, tm - 1))]
        a_ok = self.a_count > f_addr
        bank_ok = ~f_first_k | ~busy.bit_select(f_bank, 1)
        go_pass = f_active & ~f_feeding & loaded & bank_ok & a_ok
        issue = go_pass | (f_feeding & a_ok)
        end_pass = issue & (f_left == 0)
        m.d.comb += [self.a_raddr.eq(f_addr), self.a_ren.eq(issue)]

        control = data.StructLayout({"valid": 1, "addr": range(2 * tm), "add": 1, "last": 1,
                                     "final": 1})
        issued = Signal(control)
        m.d.sync += [
            self.first.eq(go_pass),
            issued.valid.eq(issue),
            issued.addr.eq(f_acc),
            issued.add.eq(~f_first_k),
            issued.last.eq(f_last_k & (f_left == 0)),
            issued.final.eq(f_last_k),
        ]
        delayed = tapped_delay(m, issued, r + MACPE.LATENCY - 1, name="acc_control")[-1]
        m.d.comb += [
            self.acc_valid.eq(delayed.valid),
            self.acc_addr.eq(delayed.addr),
            self.acc_add.eq(delayed.add),
            self.acc_last.eq(delayed.last),
            self.acc_final.eq(delayed.final),
        ]

        with m.If(swap_wait != 0):
            m.d.sync += swap_wait.eq(swap_wait - 1)
        with m.If(go_pass):
            # The feeder takes the loaded tile: the loader may refill the shadow registers once
            # this pass's `first` has swept the R rows of the array.
            m.d.sync += [loaded.eq(0), swap_wait.eq(r - 1)]
        with m.If(issue):
            m.d.sync += [f_feeding.eq(1), f_left.eq(f_left - 1), f_addr.eq(f_addr + 1),
                         f_acc.eq(f_acc + 1)]
        with m.If(end_pass):
            m.d.sync += [f_feeding.eq(0), f_left.eq(f_mm1)]
            with m.If(~f_last_k):
                m.d.sync += [f_knext.eq(f_knext + r), f_first_k.eq(0),
                             f_acc.eq(Mux(f_bank, tm, 0))]
            with m.Else():
                m.d.sync += [f_knext.eq(r), f_first_k.eq(1), f_bank.eq(~f_bank),
                             f_acc.eq(Mux(f_bank, 0, tm))]
                with m.If(~f_last_n):
                    m.d.sync += [f_nnext.eq(f_nnext + c), f_addr.eq(f_group)]
                with m.Else():
                    # The next M-tile: its words follow the last pass's.
                    m.d.sync += [
                        f_nnext.eq(c), f_mnext.eq(f_mnext + tm), f_rest.eq(f_rest - tm),
                        f_group.eq(f_addr + 1), f_mm1.eq(f_next_mm1), f_left.eq(f_next_mm1),
                    ]
                    with m.If(f_last_m):
                        m.d.sync += f_active.eq(0)
        m.d.sync += busy.eq((busy | Mux(go_pass & f_first_k, Mux(f_bank, 0b10, 0b01), 0))
                            & ~self.release)

        with m.If(self.start):
            first_mm1 = Mux(M < tm, M - 1, tm - 1)
            m.d.sync += [
                l_knext.eq(r), l_nnext.eq(c), l_mnext.eq(tm), l_nbase.eq(0), l_row.eq(0),
                l_loading.eq(0), l_active.eq(1), loaded.eq(0), swap_wait.eq(0),
                need.eq(_min(C(r, kw), K)), addr0.eq(r - 1),
                zeros0.eq(Mux(K < r, r - K, 0)),
                f_knext.eq(r), f_nnext.eq(c), f_mnext.eq(tm), f_rest.eq(M - tm),
                f_mm1.eq(first_mm1), f_left.eq(first_mm1), f_group.eq(0), f_addr.eq(0),
                f_bank.eq(0), f_first_k.eq(1), f_acc.eq(0), f_feeding.eq(0), f_active.eq(1),
                busy.eq(0),
            ]
        return m


class OSSequencer(_Sequencer):
    """Output-stationary schedule: R x C output tiles over (M-tile, N-tile), K steps each.

    Takes an output-stationary configuration; the members it shares with :class:`WSSequencer`
    are described in :class:`_Sequencer`.

    Members
    -------
    a_raddr, a_ren, b_raddr, b_ren : Out
        Read one step: a column of A (``rows`` lanes) and a row of B (``cols`` lanes).
    first, valid : Out(1)
        Tokens for the step read at the last edge: first step of a tile; a real step (``first``
        alone is the flush after the last tile).
    shift : Out(1)
        Shift column 0's drain chain (columns follow one cycle apart).
    acc_valid, acc_addr, acc_last : Out
        Column 0's writes into the bank: the bottom of the drain chain, rows R-1 down to 0.
    acc_add : Out(1)
        Always 0.

    Schedule
    --------
    A tile starts after the previous tile's last step and at least 2R cycles after its start
    (the drain chain must be empty before the next capture), once its first step's operands have
    arrived and, from the second tile on, once the drain has released the half of the bank that
    the previous tile's results go to. Steps follow one per cycle as A and B arrive.
    """

    _dataflow = "os"
    _controls = ("first", "valid", "shift")

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        r, c = cfg.rows, cfg.cols
        M, K, N = self.m, self.k, self.n

        # -- The tile walk; addresses are counters, thresholds registers (see WSSequencer). ---
        nnext = Signal(range(cfg.max_n + c + 1))        # n0 + C
        mnext = Signal(range(cfg.max_m + r + 1))        # m0 + R
        a_base = Signal(range(cfg.a_depth + 1))         # mt * K
        a_addr = Signal(range(cfg.a_depth + 1))         # mt * K + step
        b_addr = Signal(range(cfg.b_depth + 1))         # nt * K + step
        k_last = Signal(range(cfg.max_k))               # K - 1
        left = Signal(range(cfg.max_k))                 # steps after the next one in the tile
        bank = Signal()
        last_n, last_m = nnext >= N, mnext >= M

        busy = Signal(2)
        gap = Signal(range(2 * r))               # cycles until the next tile may start
        stepping = Signal()                      # inside a tile (past its first step)
        tiles_left = Signal()
        flush_left = Signal()
        have_prev = Signal()                     # a finished tile waits for its capture
        prev_bank = Signal()

        a_ok = self.a_count > a_addr
        b_ok = self.b_count > b_addr
        capture_ok = ~have_prev | ~busy.bit_select(prev_bank, 1)
        go_tile = tiles_left & ~stepping & (gap == 0) & capture_ok & a_ok & b_ok
        go_flush = ~tiles_left & flush_left & (gap == 0) & capture_ok
        issue = go_tile | (stepping & a_ok & b_ok)
        end_tile = issue & (left == 0)
        m.d.comb += [
            self.a_raddr.eq(a_addr), self.a_ren.eq(issue),
            self.b_raddr.eq(b_addr), self.b_ren.eq(issue),
        ]
        m.d.sync += [self.first.eq(go_tile | go_flush), self.valid.eq(issue)]

        with m.If(gap != 0):
            m.d.sync += gap.eq(gap - 1)
        capture = go_tile | go_flush
        with m.If(capture):
            m.d.sync += [gap.eq(2 * r - 1), have_prev.eq(go_tile), prev_bank.eq(bank)]
        with m.If(go_flush):
            m.d.sync += flush_left.eq(0)
        with m.If(issue):
            m.d.sync += [stepping.eq(1), left.eq(left - 1), a_addr.eq(a_addr + 1),
                         b_addr.eq(b_addr + 1)]
        with m.If(end_tile):
            m.d.sync += [stepping.eq(0), left.eq(k_last), bank.eq(~bank)]
            with m.If(~last_n):
                # The next N-tile: the same rows of A, the next columns of B.
                m.d.sync += [nnext.eq(nnext + c), a_addr.eq(a_base)]
            with m.Else():
                # The next M-tile: the next rows of A, B from its first column.
                m.d.sync += [nnext.eq(c), mnext.eq(mnext + r), b_addr.eq(0),
                             a_base.eq(a_addr + 1)]
                with m.If(last_m):
                    m.d.sync += tiles_left.eq(0)
        taking = capture & have_prev
        m.d.sync += busy.eq((busy | Mux(taking, Mux(prev_bank, 0b10, 0b01), 0)) & ~self.release)

        # -- Capture controller: R writes per captured tile, column 0 first. --------------------
        # The capture reaches the bottom of column 0 R + P cycles after the tile's start was
        # issued; from then on column 0 writes its chain's bottom (rows R-1 .. 0) and shifts.
        job = Signal(data.StructLayout({"go": 1, "addr": range(2 * r)}))
        m.d.sync += [job.go.eq(taking), job.addr.eq(Mux(prev_bank, 2 * r - 1, r - 1))]
        arrived = tapped_delay(m, job, r + MACPE.LATENCY, name="capture")[-1]
        count = Signal(range(r + 1))            # writes done in the running job (0: none)
        job_addr = Signal(range(2 * r))
        s = Mux(arrived.go, 0, count)
        writing = arrived.go | (count != 0)
        address = Mux(arrived.go, arrived.addr, job_addr)
        with m.If(writing):
            m.d.sync += [count.eq(Mux(s == r - 1, 0, s + 1)), job_addr.eq(address - 1)]
        m.d.comb += [
            self.shift.eq(writing),
            self.acc_valid.eq(writing),
            self.acc_addr.eq(address),
            self.acc_add.eq(0),
            self.acc_last.eq(writing & (s == r - 1)),
        ]

        with m.If(self.start):
            m.d.sync += [
                nnext.eq(c), mnext.eq(r), a_base.eq(0), a_addr.eq(0), b_addr.eq(0),
                k_last.eq(K - 1), left.eq(K - 1), bank.eq(0), busy.eq(0),
                gap.eq(0), stepping.eq(0), tiles_left.eq(1), flush_left.eq(1),
                have_prev.eq(0), prev_bank.eq(0),
            ]
        return m
