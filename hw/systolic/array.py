"""The R x C grids of cells, with the skew that turns rows of operands into wavefronts.

- :class:`WSArray`: weight-stationary (the TPU's matrix unit). Weights are shifted in from the
  top into shadow registers while the current tile computes; activations enter from the left,
  skewed one cycle per row; partial sums flow down and leave the bottom skewed one cycle per
  column. The bottom is de-skewed by the accumulator bank, which delays its *control* one cycle
  per column (:class:`tessera.hw.systolic.accumulator.AccumulatorBank`) instead of delaying 32-bit
  sums.
- :class:`OSArray`: output-stationary. Activations enter from the left and weights from the
  top, both skewed; every cell keeps one output; finished outputs are captured into a drain chain
  and shifted out of the bottom of each column.

Cell ``(i, j)`` is row ``i``, column ``j``; :func:`pe_multipliers` says which cells use DSP
blocks and which the Booth LUT multiplier.
"""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int

from .cell import OSCell, WSCell
from .skew import Skew, tapped_delay

__all__ = ["OSArray", "WSArray", "pe_multipliers"]


def pe_multipliers(rows, cols, dsp_macs):
    """Return the multiplier kind of each cell, row by row: the first ``dsp_macs`` use DSPs."""
    return [["dsp" if i * cols + j < dsp_macs else "lut" for j in range(cols)]
            for i in range(rows)]


class _Array(wiring.Component):
    """What both arrays share: their checked parameters, the edge skews and the shift taps.

    A subclass lists its members in ``_members`` and wires its cells in ``_grid``.
    """

    def __init__(self, *, rows=8, cols=8, acc_width=32, dsp_macs=None):
        self.rows = check_int(rows, "rows", 1, 32)
        self.cols = check_int(cols, "cols", 1, 32)
        self.acc_width = check_int(acc_width, "acc_width", 16, 32)
        self.dsp_macs = (self.rows * self.cols if dsp_macs is None
                         else check_int(dsp_macs, "dsp_macs", 0, self.rows * self.cols))
        super().__init__(self._members())

    def elaborate(self, platform):
        m = Module()
        # Activations enter the left edge, the top operand (``_top``) the top edge, both skewed
        # one cycle per lane; column ``j`` shifts ``j`` cycles after column 0.
        m.submodules.a_skew = a_skew = Skew(lanes=self.rows, shape=signed(8), base=1)
        m.submodules[f"{self._top}_skew"] = top_skew = Skew(lanes=self.cols, shape=signed(8),
                                                            base=self._top_base)
        m.d.comb += [a_skew.i.eq(self.a), top_skew.i.eq(getattr(self, self._top))]
        shift = [self.shift, *tapped_delay(m, self.shift, self.cols - 1, name="shift")]
        self._grid(m, a_skew.o, top_skew.o, shift)
        return m


def _mesh(m, cell_class, rows, cols, acc_width, dsp_macs, shift, *, rightward, downward):
    """Add an R x C grid of ``cell_class`` cells to ``m`` and chain them; return the bottom row.

    ``rightward`` maps an input port to ``(output port, edge)``: cell ``(i, 0)`` takes
    ``edge[i]`` and cell ``(i, j)`` the output port of cell ``(i, j - 1)``. ``downward`` does
    the same down the columns, cell ``(0, j)`` taking ``edge[j]``. Every cell of column ``j``
    takes ``shift[j]``.
    """
    kinds = pe_multipliers(rows, cols, dsp_macs)
    cells = [[cell_class(acc_width=acc_width, multiplier=kinds[i][j]) for j in range(cols)]
             for i in range(rows)]
    for i in range(rows):
        for j in range(cols):
            cell = cells[i][j]
            m.submodules[f"cell_{i}_{j}"] = cell
            for port, (out, edge) in rightward.items():
                source = edge[i] if j == 0 else getattr(cells[i][j - 1], out)
                m.d.comb += getattr(cell, port).eq(source)
            for port, (out, edge) in downward.items():
                source = edge[j] if i == 0 else getattr(cells[i - 1][j], out)
                m.d.comb += getattr(cell, port).eq(source)
            m.d.comb += cell.shift.eq(shift[j])
    return cells[rows - 1]


class WSArray(_Array):
    """Weight-stationary R x C array of :class:`~tessera.hw.systolic.cell.WSCell`.

    Parameters
    ----------
    rows, cols : int
        R and C, 1..32.
    acc_width : int
        Width of the partial sums, 16..32.
    dsp_macs : int or None
        How many cells (row by row) multiply in a DSP block; the rest use the Booth LUT
        multiplier. Default: all of them.

    Members
    -------
    a : In(data.ArrayLayout(signed(8), rows))
        One row of A: lane ``i`` is the activation for array row ``i`` (K index ``k0 + i``).
    first : In(1)
        ``a`` is the first row of a new weight tile (switch to the shadow weights).
    w : In(data.ArrayLayout(signed(8), cols))
        One row of a weight tile for the shift chains; lane ``j`` goes to column ``j``. A tile
        is shifted in bottom row first: R rows with ``shift`` set.
    shift : In(1)
        ``w`` is valid: shift every column's chain by one row.
    psum : Out(data.ArrayLayout(signed(acc_width), cols))
        The bottom of each column: the dot product of one row of A with one column of the tile.

    Timing
    ------
    A row presented in the cycle before edge ``e`` reaches cell ``(i, j)`` at edge
    ``e + 1 + i + j``; its sum leaves column ``j`` after edge ``e + R + P - 1 + j``, where
    ``P = MACPE.LATENCY`` (4) is the PE's pipeline (``psum[j]`` is valid for one cycle). Its
    ``first`` token skips the input register and reaches the cell one cycle earlier, at
    ``e + i + j``, where the cell copies its shadow weight into the active one.
    A weight row presented before edge ``L`` enters column ``j``'s chain at edge ``L + j``. So a
    tile must be complete in the shadow registers before the first row's token reaches row 0
    (its R shifts end before the row is presented), and the next tile may start shifting into
    column ``j`` once the token has reached the column's last row (R - 1 cycles after the row
    is presented, or later).
    """

    def _members(self):
        return {
            "a": In(data.ArrayLayout(signed(8), self.rows)),
            "first": In(1),
            "w": In(data.ArrayLayout(signed(8), self.cols)),
            "shift": In(1),
            "psum": Out(data.ArrayLayout(signed(self.acc_width), self.cols)),
        }

    # The activations take an input register; the tokens and the weights do not, so that each
    # cell sees its `first` token one cycle before the row it marks.
    _top, _top_base = "w", 0

    def _grid(self, m, left, top, shift):
        first = [self.first, *tapped_delay(m, self.first, self.rows - 1, name="first")]
        bottom = _mesh(m, WSCell, self.rows, self.cols, self.acc_width, self.dsp_macs, shift,
                       rightward={"a": ("a_out", left), "first": ("first_out", first)},
                       downward={"w_in": ("w_out", top),
                                 "psum_in": ("psum_out", [0] * self.cols)})
        for j in range(self.cols):
            m.d.comb += self.psum[j].eq(bottom[j].psum_out)


class OSArray(_Array):
    """Output-stationary R x C array of :class:`~tessera.hw.systolic.cell.OSCell`.

    Parameters
    ----------
    rows, cols, acc_width, dsp_macs
        As for :class:`WSArray`.

    Members
    -------
    a : In(data.ArrayLayout(signed(8), rows))
        One step's column of A: lane ``i`` is ``A[m0 + i, k]``.
    b : In(data.ArrayLayout(signed(8), cols))
        One step's row of B: lane ``j`` is ``B[k, n0 + j]``.
    first : In(1)
        This step is the first of a new output tile (the previous tile's sums are captured).
    valid : In(1)
        Accumulate this step (otherwise it is a bubble; ``first`` alone is a flush).
    shift : In(1)
        Shift column 0's drain chain down by one cell; column ``j`` shifts ``j`` cycles later.
    result : Out(data.ArrayLayout(signed(acc_width), cols))
        The bottom of each drain chain.

    Timing
    ------
    A step presented before edge ``e`` reaches cell ``(i, j)`` at edge ``e + 1 + i + j``; a
    tile whose next tile starts at edge ``e`` is captured in cell ``(i, j)`` at edge
    ``e + P + i + j`` (``P = MACPE.LATENCY``, 4). Once column ``j`` has captured (edge
    ``e + R + P - 1 + j``), ``R`` shifts from edge ``e + R + P + j`` on bring its results out
    of the bottom, row R-1 first; the next capture in the column must come after them, so tiles
    start at least ``2R`` cycles apart.
    """

    def _members(self):
        return {
            "a": In(data.ArrayLayout(signed(8), self.rows)),
            "b": In(data.ArrayLayout(signed(8), self.cols)),
            "first": In(1),
            "valid": In(1),
            "shift": In(1),
            "result": Out(data.ArrayLayout(signed(self.acc_width), self.cols)),
        }

    _top, _top_base = "b", 1

    def _grid(self, m, left, top, shift):
        first = tapped_delay(m, self.first, self.rows, name="first")
        valid = tapped_delay(m, self.valid, self.rows, name="valid")
        bottom = _mesh(m, OSCell, self.rows, self.cols, self.acc_width, self.dsp_macs, shift,
                       rightward={"a": ("a_out", left), "first": ("first_out", first),
                                  "valid": ("valid_out", valid)},
                       downward={"w": ("w_out", top), "res_in": ("res_out", [0] * self.cols)})
        for j in range(self.cols):
            m.d.comb += self.result[j].eq(bottom[j].res_out)
