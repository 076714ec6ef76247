"""The int8 multiply-accumulate processing element (PE)."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_choice, check_int

from .dsp import mult18x18d, uses_mult18x18d

__all__ = ["MACPE", "booth_multiply", "booth_partials"]


def booth_partials(a, w):
    """Return the four radix-4 Booth partial products of two signed 8-bit values, shifted.

    Their sum is ``a * w`` (:func:`booth_multiply`); the pipelined PE adds them in two stages.
    """
    w_bits = Cat(C(0, 1), w)                # w[-1] = 0, then w[0] .. w[7]
    partials = []
    for digit in range(4):
        b_m1, b_0, b_1 = w_bits[2 * digit], w_bits[2 * digit + 1], w_bits[2 * digit + 2]
        # The Booth digit -2..2 of (w[2d+1], w[2d], w[2d-1]): a magnitude 0, 1 or 2 and a sign.
        one = b_0 ^ b_m1
        two = (b_1 & ~b_0 & ~b_m1) | (~b_1 & b_0 & b_m1)
        negative = b_1 & ~(b_0 & b_m1)
        magnitude = Mux(two, a.as_signed() << 1, Mux(one, a.as_signed(), 0))
        partials.append(Mux(negative, -magnitude, magnitude) << (2 * digit))
    return partials


def booth_multiply(a, w):
    """Return ``a * w`` for two signed 8-bit values, built from adders (radix-4 Booth).

    Synthesis maps only multiplication operators to DSP blocks; this sum of four Booth partial
    products stays in logic (LUTs and carry chains). The result is a signed 16-bit value, exact
    for every int8 pair (-128 * -128 = 16384 included).
    """
    p0, p1, p2, p3 = booth_partials(a, w)
    return (p0 + p1) + (p2 + p3)


class MACPE(wiring.Component):
    """int8 multiply-accumulate processing element: ``acc <= acc + a * w``.

    The cell of the systolic array: a signed int8 activation and weight in, a signed accumulator
    out, and the activation passed on to the right-hand neighbour one cycle later.

    Four pipeline stages, so that no path holds both a route to or from a DSP block and logic:

    1. the operand registers (``a``, ``w``);
    2. the multiplier's first stage;
    3. the product register;
    4. the accumulator.

    With ``multiplier="dsp"`` on an ECP5 (a platform whose ``family`` is ``"ecp5"``), stages 1
    and 2 are the MULT18X18D's own REG_INPUTA/B and REG_OUTPUT registers and stage 3 a fabric
    register beside the adder: the routes from the operand registers to the DSP column and from
    the DSP column back each get a cycle. Elsewhere (simulation, other families) the same
    registers are behavioural: a multiplication between stages 1 and 2, which synthesis maps to
    a DSP block (and, on the iCE40, packs the registers into it). With ``multiplier="lut"``
    stage 2 holds two sums of two Booth partial products and stage 3 adds them.

    Parameters
    ----------
    acc_width : int
        Width of the signed accumulator, from 16 (the smallest that holds -128 * -128 = 16384)
        to 64. Default 32.
    psum_in : bool
        Add a partial-sum input ``psum`` (the weight-stationary systolic chain): the last stage
        computes ``acc <= psum + a * w`` instead of accumulating onto itself, and ``clr`` is
        not a member. Default False.
    multiplier : str
        ``"dsp"`` (default): a multiplication operator, which synthesis maps to a DSP block.
        ``"lut"``: a radix-4 Booth multiplier built from adders (:func:`booth_partials`), which
        stays in logic. Same latency and results either way.

    Members
    -------
    a : In(signed(8))
        Activation.
    w : In(signed(8))
        Weight.
    en : In(1)
        Accumulate ``a * w``.
    clr : In(1)
        Start a new accumulation (not with ``psum_in``).
    psum : In(signed(acc_width))
        The partial sum from the PE above (only with ``psum_in``), sampled ``LATENCY - 1``
        cycles after ``a`` and ``w``, together with their registered product.
    a_out : Out(signed(8))
        ``a`` delayed by one cycle, for the neighbour.
    acc : Out(signed(acc_width))
        The accumulator (with ``psum_in``: the partial sum for the PE below).

    Timing
    ------
    ``a``, ``w``, ``en`` and ``clr`` are sampled together at a clock edge; their effect is
    visible on ``acc`` :attr:`LATENCY` (4) edges later and one new input is taken every cycle
    (throughput 1). :data:`tessera.golden.mac.PE_LATENCY` is the same constant, for the cycle
    models. ``a_out`` shows ``a`` one edge later, whatever ``en`` and ``clr`` are.

    ===  ===  =========================================================
    clr  en   effect on ``acc``
    ===  ===  =========================================================
    0    0    holds
    0    1    ``acc + a * w``
    1    0    0
    1    1    ``a * w``: clear and start the next sum in the same cycle
    ===  ===  =========================================================

    With ``psum_in`` the last stage is ``acc <= psum + (a * w if en else 0)``: ``psum``
    presented ``LATENCY - 1`` cycles after ``a`` and ``w`` is added to their product. A column
    of such PEs, each taking its neighbour's ``acc`` as ``psum`` and its activation one cycle
    later, sums a dot product down the column with one cycle per PE.

    Overflow
    --------
    The accumulator wraps modulo ``2**acc_width`` (two's complement), as a hardware adder does;
    :func:`tessera.golden.mac.mac_trace` defines the same arithmetic. Pick ``acc_width`` for the
    longest
    sum: ``K`` products of at most 16384 in magnitude need ``acc_width >= 16 + ceil(log2(K))``.

    Reset
    -----
    The synchronous reset of the ``sync`` domain clears ``acc``, ``a_out`` and every stage.
    """

    #: Edges from sampling ``a``, ``w``, ``en`` and ``clr`` to the result on ``acc``.
    LATENCY = 4

    def __init__(self, *, acc_width=32, psum_in=False, multiplier="dsp"):
        self.acc_width = check_int(acc_width, "acc_width", 16, 64)
        if not isinstance(psum_in, bool):
            raise TypeError(f"psum_in must be a bool, not {psum_in!r}")
        self.psum_in = psum_in
        self.multiplier = check_choice(multiplier, "multiplier", ("dsp", "lut"))
        members = {
            "a": In(signed(8)),
            "w": In(signed(8)),
            "en": In(1),
        }
        if self.psum_in:
            members["psum"] = In(signed(self.acc_width))
        else:
            members["clr"] = In(1)
        members["a_out"] = Out(signed(8))
        members["acc"] = Out(signed(self.acc_width))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()

        # The controls travel beside the multiplier, one register per stage.
        en = Signal(3)
        clr = Signal(3)
        m.d.sync += [
            en.eq(Cat(self.en, en[:-1])),
            clr.eq(Cat(getattr(self, "clr", 0), clr[:-1])),
            self.a_out.eq(self.a),
        ]

        # Stages 1 to 3: the operand registers, the multiplier's first stage, the product.
        product = Signal(signed(16))
        if self.multiplier == "dsp" and uses_mult18x18d(platform):
            dsp_out = Signal(signed(16))
            mult18x18d(m, self.a, self.w, dsp_out)
            m.d.sync += product.eq(dsp_out)
        else:
            a, w = Signal(signed(8)), Signal(signed(8))
            m.d.sync += [a.eq(self.a), w.eq(self.w)]
            if self.multiplier == "dsp":
                stage = Signal(signed(16))
                m.d.sync += [stage.eq(a * w), product.eq(stage)]
            else:
                p0, p1, p2, p3 = booth_partials(a, w)
                low, high = Signal(signed(16)), Signal(signed(16))
                m.d.sync += [low.eq(p0 + p1), high.eq(p2 + p3), product.eq(low + high)]

        # Stage 4: accumulate. The sum is truncated to acc_width bits, which wraps.
        if self.psum_in:
            m.d.sync += self.acc.eq(self.psum + Mux(en[-1], product, 0))
            return m
        with m.If(clr[-1]):
            m.d.sync += self.acc.eq(Mux(en[-1], product, 0))
        with m.Elif(en[-1]):
            m.d.sync += self.acc.eq(self.acc + product)

        return m
