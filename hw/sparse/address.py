"""Address accumulation: relative row indices to accumulator addresses."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.config.sparse import FIELD_WIDTH
from tessera.golden.errors import check_int

__all__ = ["AddressAccumulator"]


class AddressAccumulator(wiring.Component):
    """Turn a column's relative row indices into local rows (accumulator addresses).

    An entry with relative index ``z`` lands ``z + 1`` local rows after the previous entry of its
    column, or on local row ``z`` when it is the column's first (golden/eie.py). Padding entries
    (index 0) advance the row like any other; they are told apart downstream, where they
    contribute nothing. Beside the local row the unit keeps the global row ``local * N + pe``
    (by adding ``(z + 1) * N``, no multiplier on the local row) to check it against the layer's
    row count: an entry past the PE's rows, and every later entry of its column, is *out of
    range*.

    Two stages: the rows are computed from the entry and registered; the range check is made
    on the registered global row, in the next cycle (so that the adder and the comparator are
    not in series). Within a column the global row only grows, so an entry after an
    out-of-range one is out of range too; a sticky flag, set one entry late, keeps it so even
    if a long walk of bad relative indices could wrap the counter.

    Parameters
    ----------
    config : SparseConfig
    pe : int
        This PE's index ``k`` (its first global row).

    Members
    -------
    valid, first, rel : In
        The entry of this cycle (from the sparse-matrix read unit).
    rows : In(16)
        The layer's row count, held during a layer.
    row : Out(row_width)
        The local row of the entry of the previous cycle (registered).
    in_range : Out(1)
        That entry's global row is below ``rows`` (and no earlier entry of its column left).
    """

    def __init__(self, config, *, pe):
        self.config = config
        self.pe = check_int(pe, "pe", 0, config.n_pes - 1)
        super().__init__({
            "valid": In(1),
            "first": In(1),
            "rel": In(config.rel_bits),
            "rows": In(FIELD_WIDTH),
            "row": Out(config.row_width),
            "in_range": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        n = cfg.n_pes
        next_local = Signal(cfg.row_width)
        next_global = Signal(cfg.global_width)
        local = Signal(cfg.row_width)
        glob = Signal(cfg.global_width)
        m.d.comb += [
            local.eq(Mux(self.first, 0, next_local) + self.rel),
            glob.eq(Mux(self.first, self.pe, next_global) + self.rel * n),
        ]
        with m.If(self.valid):
            m.d.sync += [next_local.eq(local + 1), next_global.eq(glob + n)]

        # Second stage: the range check on the registered global row.
        valid = Signal()
        first = Signal()
        global_row = Signal(cfg.global_width)
        m.d.sync += [valid.eq(self.valid), first.eq(self.first), self.row.eq(local),
                     global_row.eq(glob)]
        left = Signal()  # an earlier entry of this column left the range
        beyond = Signal()
        m.d.comb += [
            beyond.eq(global_row >= self.rows),
            self.in_range.eq(~beyond & ~(left & ~first)),
        ]
        with m.If(valid):
            m.d.sync += left.eq((left & ~first) | beyond)
        return m
