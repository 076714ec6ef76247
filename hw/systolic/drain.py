"""The drain: finished groups of results, out of the accumulator bank into the post-processors."""

from amaranth import *
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int

from .lanes import lane_input_layout
from .protocol import quant_layout

__all__ = ["Drain"]


class Drain(wiring.Component):
    """Read finished groups from the accumulator bank, one word of ``lanes`` results a cycle,
    with their columns' parameters.

    The GEMM's results are produced in groups: an M-tile of ``tile_m`` rows (fewer at the
    bottom edge) by an N-tile of ``cols`` columns (fewer at the right edge), in one half of the
    bank. Groups finish in order, alternating halves; the drain reads each one row by row (the
    bank's read port returns a whole row), cuts every row into words of ``lanes`` consecutive
    columns (the last word of a row holds the rest), pairs each result with its column's
    requantization parameters (a row of ``lanes`` of them from the parameter buffer) and hands
    the word to the post-processors. With ``lanes == cols`` that is one bank row a cycle.

    Parameters
    ----------
    cols : int
        Array columns (the N-tile width), 1..32.
    tile_m : int
        Rows per half of the bank (the M-tile height), 1..65535.
    acc_width : int
        16..32.
    max_m, max_n : int
        The largest M and N (widths of the counters and of the parameter address).
    lanes : int or None
        Results per word, a divisor of ``cols`` (default ``cols``).

    Members
    -------
    start : In(1)
        A new GEMM: ``m``, ``n``, ``relu`` and ``raw`` are valid from now until it ends.
    m : In(range(max_m + 1))
    n : In(range(max_n + 1))
    relu, raw : In(1)
    done : In(1)
        The next half of the bank (alternating, from half 0) holds a finished group.
    row_done : In(1)
        The next row of the group being finished (in order, from its first) holds its final
        sum (weight-stationary: a row of the group's last K-tile; never in output-stationary).
    q_count : In(range(max_n + 1))
        Requantization parameters arrived so far; nothing is read before all ``n`` have arrived
        (a registered comparison, so from the second edge after; not in raw mode).
    release : Out(2)
        One cycle high (bit ``b``) when the last word of half ``b`` has been read.
    finished : Out(1)
        Every result of the GEMM has been read (stays high until ``start``).
    issue : Out(1)
        A word is read this cycle (for the caller's in-flight count).
    raddr, ren : Out
        The bank's read port; ``rdata`` the data.
    rdata : In(data.ArrayLayout(signed(acc_width), cols))
    qaddr, qen : Out
        The parameter buffer's read port (a row of ``lanes`` columns' parameters, column
        ``x`` in lane ``x % lanes`` of row ``x // lanes``); ``qdata`` the data.
    qdata : In(data.ArrayLayout(quant_layout(acc_width), lanes))
    o : Out(stream.Signature(lane_input_layout(lanes, acc_width)))
        Words of results with their parameters, for
        :class:`tessera.hw.systolic.lanes.LanePostProcessor`.

    Timing
    ------
    A row can be read from the edge after the bank wrote its final sum: after ``row_done``
    for its row, or after ``done`` for its group, whichever comes first. So a
    weight-stationary group is read while its last K-tile is still being written, one row
    behind (rows are written one a cycle and read in one cycle or more). Words are read on
    consecutive edges while their rows are ready and the output queue has room
    (``QUEUE_DEPTH`` entries, counted with credits, so no back-pressure reaches the read
    pipeline), and the next group's first read can follow its last directly. A word read at
    edge ``D`` is on ``o`` after edge ``D + 3``. Nothing is dropped or repeated under
    back-pressure.
    """

    #: Entries of the queue in front of the post-processors: enough credits for one read a
    #: cycle (a credit comes back five cycles after its read).
    QUEUE_DEPTH = 8

    def __init__(self, *, cols, tile_m, acc_width=32, max_m=65535, max_n=65535, lanes=None):
        self.cols = check_int(cols, "cols", 1, 32)
        self.tile_m = check_int(tile_m, "tile_m", 1, 65535)
        self.acc_width = check_int(acc_width, "acc_width", 16, 32)
        self.max_m = check_int(max_m, "max_m", 1, 65535)
        self.max_n = check_int(max_n, "max_n", 1, 65535)
        self.lanes = self.cols if lanes is None else check_int(lanes, "lanes", 1, self.cols)
        if self.cols % self.lanes:
            raise ValueError(f"lanes must divide cols ({self.cols}), not {self.lanes}")
        depth = 2 * self.tile_m
        q_rows = -(-self.max_n // self.lanes)
        super().__init__({
            "start": In(1),
            "m": In(range(self.max_m + 1)),
            "n": In(range(self.max_n + 1)),
            "relu": In(1),
            "raw": In(1),
            "done": In(1),
            "row_done": In(1),
            "q_count": In(range(self.max_n + 1)),
            "release": Out(2),
            "finished": Out(1),
            "issue": Out(1),
            "raddr": Out(range(depth)),
            "ren": Out(1),
            "rdata": In(data.ArrayLayout(signed(self.acc_width), self.cols)),
            "qaddr": Out(range(max(q_rows, 2))),
            "qen": Out(1),
            "qdata": In(data.ArrayLayout(quant_layout(self.acc_width), self.lanes)),
            "o": Out(stream.Signature(lane_input_layout(self.lanes, self.acc_width))),
        })

    def elaborate(self, platform):
        m = Module()
        tm, c, lanes = self.tile_m, self.cols, self.lanes
        words = c // lanes                  # words of a full row
        M, N = self.m, self.n

        # Which halves hold a finished group; `fill` is the half that finishes next.
        full = Signal(2)
        fill = Signal()
        bank = Signal()                      # the half being read
        # The group walk (M-tile, then N-tile), with its addresses as counters and its
        # thresholds as registers, so that every decision compares two registers.
        nnext = Signal(range(self.max_n + c + 1))           # n0 + C
        mnext = Signal(range(self.max_m + tm + 1))          # m0 + tm
        m_rest = Signal(range(-tm, self.max_m + 1))         # M - (m0 + tm)
        n_rest = Signal(range(-c, self.max_n + 1))          # N - (n0 + C)
        q0 = Signal(range(self.max_n + 1))                 # n0 / lanes: the parameters' row
        mm1 = Signal(range(tm))                             # rows of the group, minus one
        cn1 = Signal(range(c))                              # columns of the group, minus one
        rows_left = Signal(range(tm))
        cols_left = Signal(range(c))        # the row's columns from this word on, minus one
        # The word in the row (at least one bit: a zero-width wire is `[-1:0]` in Verilog).
        col = Signal(range(max(words, 2)))
        raddr = Signal(range(2 * tm))
        qaddr = Signal(range(self.max_n + 1))
        first_cn1 = Signal(range(c))                        # columns of an M-tile's first group
        active = Signal()                    # the GEMM still has groups to read
        row_idx = Signal(range(tm))          # the row being read, in its group
        rows_written = Signal(range(tm + 1))  # final rows of the group being finished
        # `row_idx < rows_written`, kept as a register: its next value is chosen among
        # comparisons of this cycle's registers (which run beside the read decision) by what
        # this cycle does to the two counters, so no carry chain sits in front of `ready`.
        row_ok = Signal()

        last_n, last_m = nnext >= N, mnext >= M
        # The next M-tile's size, one cycle behind the walk: two changes of M-tile can only come
        # one cycle apart when the second enters the last, partial tile (a full M-tile's groups
        # take two cycles or more, or are as small as every other), and nothing reads it after.
        # The next N-tile's size is not registered: a full group of one row is one word when
        # lanes == cols, so two changes of N-tile do come on consecutive cycles.
        next_cn1 = Signal(range(c))
        next_mm1 = Signal(range(tm))
        m.d.comb += next_cn1.eq(Mux(n_rest < c, n_rest - 1, c - 1))
        m.d.sync += next_mm1.eq(Mux(m_rest < tm, m_rest - 1, tm - 1))
        q_all = Signal()                                    # every parameter has arrived
        m.d.sync += q_all.eq(self.q_count >= N)
        q_ready = self.raw | q_all
        # The row is ready: its group is finished, or it is the group being finished and the
        # row's final sum is written (rows are finished in order).
        ready = full.bit_select(bank, 1) | ((fill == bank) & row_ok)
        have = active & q_ready & ready

        # The read pipeline never stalls: a word is read only when the output queue is sure to
        # have room for it (a credit per queue entry), so no `ready` travels back through the
        # stages into the walk. Stages: the memories' read registers (v1); a copy of the whole
        # row (v2), so that no logic follows a block RAM's slow output; the word's results and
        # their parameters, written into the queue in front of the post-processors.
        m.submodules.queue = queue = fifo.SyncFIFOBuffered(width=len(self.o.payload.as_value()),
                                                             depth=self.QUEUE_DEPTH)
        credits = Signal(range(self.QUEUE_DEPTH + 1), init=self.QUEUE_DEPTH)
        last_word = cols_left < lanes
        v1 = Signal()
        col1 = Signal(range(max(words, 2)))
        n1 = Signal(range(lanes + 1))
        v2 = Signal()
        col2 = Signal(range(max(words, 2)))
        n2 = Signal(range(lanes + 1))
        row2 = Signal.like(self.rdata)
        q2 = Signal.like(self.qdata)
        entry = Signal(lane_input_layout(lanes, self.acc_width))
        issue = Signal()
        taken = queue.r_rdy & queue.r_en
        m.d.comb += [
            issue.eq(have & (credits != 0)),
            self.issue.eq(issue),
            self.ren.eq(issue),
            self.qen.eq(issue),
            self.raddr.eq(raddr),
            self.qaddr.eq(qaddr),
            self.finished.eq(~active),
        ]
        m.d.sync += [
            credits.eq(credits - issue + taken),
            v1.eq(issue), col1.eq(col), n1.eq(Mux(last_word, cols_left + 1, lanes)),
            v2.eq(v1), col2.eq(col1), n2.eq(n1), row2.eq(self.rdata), q2.eq(self.qdata),
        ]
        chunk = row2.as_value()
        if words > 1:
            chunk = chunk.word_select(col2, lanes * self.acc_width)
        m.d.comb += [
            entry.acc.as_value().eq(chunk),
            entry.q.eq(q2),
            entry.n.eq(n2),
            entry.relu.eq(self.relu),
            entry.raw.eq(self.raw),
            queue.w_data.eq(entry),
            queue.w_en.eq(v2),
            self.o.payload.eq(queue.r_data),
            self.o.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.o.ready),
        ]

        release = Signal(2)
        row_step = Signal()                 # row_idx advances this cycle
        row_wrap = Signal()                 # row_idx returns to 0 (the group's last word)
        with m.If(issue):
            with m.If(~last_word):
                m.d.sync += [cols_left.eq(cols_left - lanes), col.eq(col + 1),
                             qaddr.eq(qaddr + 1)]
            with m.Else():
                m.d.sync += [cols_left.eq(cn1), col.eq(0), qaddr.eq(q0)]
                with m.If(rows_left != 0):
                    m.d.sync += [rows_left.eq(rows_left - 1), raddr.eq(raddr + 1),
                                 row_idx.eq(row_idx + 1)]
                    m.d.comb += row_step.eq(1)
                with m.Else():
                    # The group's last word: free its half and walk to the next group.
                    m.d.comb += [release.eq(Mux(bank, 0b10, 0b01)), row_wrap.eq(1)]
                    m.d.sync += [bank.eq(~bank), raddr.eq(Mux(bank, 0, tm)),
                                 rows_left.eq(mm1), row_idx.eq(0)]
                    with m.If(~last_n):
                        m.d.sync += [
                            q0.eq(q0 + words), qaddr.eq(q0 + words), nnext.eq(nnext + c),
                            n_rest.eq(n_rest - c), cn1.eq(next_cn1), cols_left.eq(next_cn1),
                        ]
                    with m.Else():
                        m.d.sync += [
                            q0.eq(0), qaddr.eq(0), nnext.eq(c), n_rest.eq(N - c),
                            cn1.eq(first_cn1), cols_left.eq(first_cn1),
                            mnext.eq(mnext + tm), m_rest.eq(m_rest - tm),
                            mm1.eq(next_mm1), rows_left.eq(next_mm1),
                        ]
                        with m.If(last_m):
                            m.d.sync += active.eq(0)
        m.d.comb += self.release.eq(release)

        fill_bit = Mux(fill, 0b10, 0b01)
        m.d.sync += full.eq((full | Mux(self.done, fill_bit, 0)) & ~release)
        with m.If(self.done):
            m.d.sync += [fill.eq(~fill), rows_written.eq(0)]
        with m.Elif(self.row_done):
            m.d.sync += rows_written.eq(rows_written + 1)

        # The next `row_idx < rows_written`: `rows_written` returns to 0 (nothing is ready),
        # or `row_idx` does (ready once a row is written), or each counter steps by 0 or 1.
        written_step = self.row_done & ~self.done
        with m.If(self.done):
            m.d.sync += row_ok.eq(0)
        with m.Elif(row_wrap):
            m.d.sync += row_ok.eq((rows_written != 0) | written_step)
        with m.Elif(row_step & ~written_step):
            m.d.sync += row_ok.eq(row_idx + 1 < rows_written)
        with m.Elif(~row_step & written_step):
            m.d.sync += row_ok.eq(row_idx <= rows_written)

        with m.If(self.start):
            cn1_0 = Mux(N < c, N - 1, c - 1)
            first_mm1 = Mux(M < tm, M - 1, tm - 1)
            m.d.sync += [
                full.eq(0), fill.eq(0), bank.eq(0), active.eq(1), row_idx.eq(0),
                rows_written.eq(0), row_ok.eq(0),
                nnext.eq(c), mnext.eq(tm), m_rest.eq(M - tm), n_rest.eq(N - c), q0.eq(0),
                q_all.eq(0), mm1.eq(first_mm1), cn1.eq(cn1_0), first_cn1.eq(cn1_0),
                rows_left.eq(first_mm1), cols_left.eq(cn1_0), col.eq(0), raddr.eq(0),
                qaddr.eq(0),
            ]
        return m
