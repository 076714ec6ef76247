"""The accumulator bank: C column memories where the array's results collect before draining."""

from amaranth import *
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_choice, check_int

from .skew import tapped_delay

__all__ = ["AccumulatorBank"]


class AccumulatorBank(wiring.Component):
    """One memory per array column, written by the array and read by the drain.

    The bank is double-buffered by its user: the sequencer fills one half while the drain reads
    the other. Column ``j``'s results leave the array ``j`` cycles after column 0's, so the
    bank delays its control by one cycle per column (the de-skew of the array's bottom edge):
    every column writes the same entry ``j`` cycles after column 0.

    Parameters
    ----------
    cols : int
        Number of columns, 1..32.
    depth : int
        Entries per column (both halves), 2..2**16.
    acc_width : int
        Width of an entry, 16..32.
    accumulate : bool
        True (weight-stationary): read-modify-write, ``entry <= entry + value`` (or ``value``
        when ``add`` is low), summing partial sums over K-tiles. False (output-stationary):
        plain writes of finished results.

    Members
    -------
    value : In(data.ArrayLayout(signed(acc_width), cols))
        Column ``j``'s value, ``j`` cycles after column 0's.
    valid, addr, add, last : In(...)
        Column 0's control: write (``valid``) the entry ``addr``; ``add`` to it or overwrite;
        ``last`` marks the last entry of a group. With ``accumulate`` the control comes one
        cycle *before* column 0's value (the old entry is read meanwhile); without it, in the
        same cycle.
    final : In(1)
        With ``accumulate``: the entry's write completes its sum (the group's last K-tile).
    done : Out(1)
        High in the cycle before the edge on which the last column writes an entry flagged
        ``last``: from that edge on, the whole group can be read.
    row_done : Out(1)
        With ``accumulate``, high in the cycle before the edge on which the last column writes
        an entry flagged ``final``: from that edge on, that row can be read (0 without
        ``accumulate``).
    raddr : In(range(depth))
    ren : In(1)
        The drain's read port (every column at once); ``rdata`` after the edge, held while
        ``ren`` is low.
    rdata : Out(data.ArrayLayout(signed(acc_width), cols))

    Timing
    ------
    With ``accumulate``, control presented before edge ``E`` writes column ``j`` at edge
    ``E + j + 2``: the old entry is read at ``E + j``, the value is captured with it at
    ``E + j + 1``, and the sum written at ``E + j + 2``; an entry presented again two cycles
    later (its read on the edge of the first write) is forwarded. Without ``accumulate``,
    column ``j`` is written at ``E + j``. Sums wrap modulo ``2**acc_width``.
    """

    def __init__(self, *, cols, depth, acc_width=32, accumulate=True):
        self.cols = check_int(cols, "cols", 1, 32)
        self.depth = check_int(depth, "depth", 2, 2**16)
        self.acc_width = check_int(acc_width, "acc_width", 16, 32)
        self.accumulate = check_choice(accumulate, "accumulate", (True, False))
        row = data.ArrayLayout(signed(self.acc_width), self.cols)
        super().__init__({
            "value": In(row),
            "valid": In(1),
            "addr": In(range(self.depth)),
            "add": In(1),
            "last": In(1),
            "final": In(1),
            "done": Out(1),
            "row_done": Out(1),
            "raddr": In(range(self.depth)),
            "ren": In(1),
            "rdata": Out(row),
        })

    def elaborate(self, platform):
        m = Module()
        control = data.StructLayout({"valid": 1, "addr": range(self.depth), "add": 1,
                                     "last": 1, "final": 1})
        column0 = Signal(control)
        m.d.comb += [column0.valid.eq(self.valid), column0.addr.eq(self.addr),
                     column0.add.eq(self.add), column0.last.eq(self.last),
                     column0.final.eq(self.final)]
        controls = [column0, *tapped_delay(m, column0, self.cols - 1, name="control")]

        done, row_done = [], []
        for j in range(self.cols):
            ctl = controls[j]
            mem = memory.Memory(shape=signed(self.acc_width), depth=self.depth, init=[])
            m.submodules[f"column{j}"] = mem
            wp = mem.write_port()
            drain = mem.read_port()
            m.d.comb += [drain.addr.eq(self.raddr), drain.en.eq(self.ren),
                         self.rdata[j].eq(drain.data)]
            if self.accumulate:
                # The entry written on the edge that reads it is forwarded here, not by a
                # transparent port: Amaranth builds one from an address register and an
                # asynchronous read, which lets synthesis fold `old` into the block RAM and puts
                # the adder behind the RAM's slow output. Here the RAM's output only meets a mux.
                rmw = mem.read_port()
                staged = Signal(control, name=f"staged{j}")
                write = Signal(control, name=f"write{j}")
                old = Signal(signed(self.acc_width), name=f"old{j}")
                value = Signal(signed(self.acc_width), name=f"value{j}")
                hit = Signal(name=f"hit{j}")
                forwarded = Signal(signed(self.acc_width), name=f"forwarded{j}")
                m.d.comb += [rmw.addr.eq(ctl.addr), rmw.en.eq(1)]
                m.d.sync += [
                    staged.eq(ctl),                  # edge E + j: the old entry is read
                    hit.eq(write.valid & (write.addr == ctl.addr)),
                    forwarded.eq(wp.data),
                    write.eq(staged),                # edge E + j + 1: old entry and value
                    old.eq(Mux(hit, forwarded, rmw.data)),
                    value.eq(self.value[j]),
                ]
                m.d.comb += [                        # edge E + j + 2: the write
                    wp.addr.eq(write.addr),
                    wp.data.eq(Mux(write.add, old + value, value)),
                    wp.en.eq(write.valid),
                ]
                done.append(write.valid & write.last)
                row_done.append(write.valid & write.final)
            else:
                m.d.comb += [wp.addr.eq(ctl.addr), wp.data.eq(self.value[j]),
                             wp.en.eq(ctl.valid)]
                done.append(ctl.valid & ctl.last)
                row_done.append(C(0, 1))
        m.d.comb += [self.done.eq(done[-1]), self.row_done.eq(row_done[-1])]
        return m
