"""The cells of the systolic arrays: a :class:`tessera.hw.pe.MACPE` with the registers around it.

- :class:`WSCell` (weight-stationary): a MAC PE in partial-sum mode with a double-buffered
  weight: a *shadow* register on the column's weight shift chain and the *active* register the
  PE multiplies by.
- :class:`OSCell` (output-stationary): a MAC PE that keeps its own sum, a registered weight
  pass-through, and a result register on the column's drain chain.
"""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_choice, check_int

from ..pe import MACPE

__all__ = ["OSCell", "WSCell"]


class WSCell(wiring.Component):
    """Weight-stationary cell: ``psum_out = psum_in + a * w`` with a double-buffered ``w``.

    Parameters
    ----------
    acc_width : int
        Width of the partial sums, 16..32.
    multiplier : {"dsp", "lut"}
        How the PE multiplies (see :class:`tessera.hw.pe.MACPE`).

    Members
    -------
    a : In(signed(8))
        Activation from the left neighbour (or the array's edge).
    first : In(1)
        Token travelling one cycle *ahead* of ``a``: the next activation is the first of a new
        weight tile. The cell copies the shadow register into the active weight register, so
        that the tile switch sweeps the array with the data, one cell per cycle, and the
        multiplier's weight input is a plain register (no select in front of the DSP block).
    a_out : Out(signed(8))
        ``a`` one cycle later, for the right neighbour.
    first_out : Out(1)
        ``first`` one cycle later.
    w_in : In(signed(8))
        The weight shift chain, from the cell above.
    shift : In(1)
        Shift the chain: the shadow register takes ``w_in``.
    w_out : Out(signed(8))
        The shadow register, for the cell below.
    psum_in : In(signed(acc_width))
        Partial sum from the cell above, ``MACPE.LATENCY - 1`` (3) cycles after ``a`` (0 at the
        top row).
    psum_out : Out(signed(acc_width))
        ``psum_in + a * w``, ``MACPE.LATENCY`` (4) cycles after ``a``.

    Timing
    ------
    A shift and a copy on the same edge are allowed: the copy takes the shadow as it was before
    the edge. Partial sums wrap modulo ``2**acc_width``.
    """

    def __init__(self, *, acc_width=32, multiplier="dsp"):
        self.acc_width = check_int(acc_width, "acc_width", 16, 32)
        self.multiplier = check_choice(multiplier, "multiplier", ("dsp", "lut"))
        super().__init__({
            "a": In(signed(8)),
            "first": In(1),
            "a_out": Out(signed(8)),
            "first_out": Out(1),
            "w_in": In(signed(8)),
            "shift": In(1),
            "w_out": Out(signed(8)),
            "psum_in": In(signed(self.acc_width)),
            "psum_out": Out(signed(self.acc_width)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = pe = MACPE(acc_width=self.acc_width, psum_in=True,
                                     multiplier=self.multiplier)
        active = Signal(signed(8))
        with m.If(self.shift):
            m.d.sync += self.w_out.eq(self.w_in)
        with m.If(self.first):
            m.d.sync += active.eq(self.w_out)
        m.d.sync += self.first_out.eq(self.first)
        m.d.comb += [
            pe.a.eq(self.a),
            pe.w.eq(active),
            pe.en.eq(1),
            pe.psum.eq(self.psum_in),
            self.a_out.eq(pe.a_out),
            self.psum_out.eq(pe.acc),
        ]
        return m


class OSCell(wiring.Component):
    """Output-stationary cell: accumulates ``a * w`` over K, then hands the sum to a chain.

    Parameters
    ----------
    acc_width : int
        Width of the accumulator, 16..32.
    multiplier : {"dsp", "lut"}
        How the PE multiplies (see :class:`tessera.hw.pe.MACPE`).

    Members
    -------
    a : In(signed(8))
        Activation from the left.
    w : In(signed(8))
        Weight from above.
    first : In(1)
        Token with ``a``: the first step of a new output tile. The PE restarts its sum, and
        ``MACPE.LATENCY - 1`` (3) cycles later the finished sum is captured into ``res_out``.
    valid : In(1)
        Token with ``a``: accumulate this step (a bubble otherwise). ``first`` without
        ``valid`` is a flush: it captures the last tile and leaves the sum at 0.
    a_out, w_out : Out(signed(8))
        ``a`` and ``w`` one cycle later, for the right and lower neighbours.
    first_out, valid_out : Out(1)
        The tokens one cycle later.
    res_in : In(signed(acc_width))
        The drain chain, from the cell above.
    shift : In(1)
        Shift the drain chain: ``res_out`` takes ``res_in``. Never on a capture edge.
    res_out : Out(signed(acc_width))
        The captured result (or the chain's value), for the cell below.
    """

    def __init__(self, *, acc_width=32, multiplier="dsp"):
        self.acc_width = check_int(acc_width, "acc_width", 16, 32)
        self.multiplier = check_choice(multiplier, "multiplier", ("dsp", "lut"))
        super().__init__({
            "a": In(signed(8)),
            "w": In(signed(8)),
            "first": In(1),
            "valid": In(1),
            "a_out": Out(signed(8)),
            "w_out": Out(signed(8)),
            "first_out": Out(1),
            "valid_out": Out(1),
            "res_in": In(signed(self.acc_width)),
            "shift": In(1),
            "res_out": Out(signed(self.acc_width)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = pe = MACPE(acc_width=self.acc_width, multiplier=self.multiplier)
        capture = Signal(MACPE.LATENCY - 1)
        m.d.sync += [
            self.w_out.eq(self.w),
            self.first_out.eq(self.first),
            self.valid_out.eq(self.valid),
            capture.eq(Cat(self.first, capture[:-1])),
        ]
        # The PE clears LATENCY - 1 edges after it sampled `first` (its clear travels with the
        # product); its finished sum is still on `acc` until then, so it is captured on that
        # same edge.
        with m.If(capture[-1]):
            m.d.sync += self.res_out.eq(pe.acc)
        with m.Elif(self.shift):
            m.d.sync += self.res_out.eq(self.res_in)
        m.d.comb += [
            pe.a.eq(self.a),
            pe.w.eq(self.w),
            pe.en.eq(self.valid),
            pe.clr.eq(self.first),
            self.a_out.eq(pe.a_out),
        ]
        return m
