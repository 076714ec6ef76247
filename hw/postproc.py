"""The post-processing unit shared by every engine: bias, requantize, ReLU, saturate."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_choice, check_int

from .dsp import mult18x18d, uses_mult18x18d

__all__ = ["PostProcessor", "postproc_input_layout", "shift_add_multiply"]

#: Widths of the requantization parameters (tessera.golden.quant: 0 <= M < 2**16, 0 <= s <= 47).
MULTIPLIER_WIDTH = 16
SHIFT_WIDTH = 6
MAX_SHIFT = 47
#: How many registered slices of the multiplier a post-processor in logic multiplies by in
#: stage 2 (their sum is stage 3).
LOGIC_PARTS = 4


def postproc_input_layout(acc_width=32):
    """The payload layout of :attr:`PostProcessor.i` (fields packed from bit 0 in this order)."""
    return data.StructLayout({
        "acc": signed(acc_width),
        "bias": signed(acc_width),
        "multiplier": unsigned(MULTIPLIER_WIDTH),
        "shift": unsigned(SHIFT_WIDTH),
        "relu": 1,
        "raw": 1,
    })


def shift_add_multiply(x, y):
    """Return ``x * y`` for an unsigned or signed ``x`` and an unsigned ``y``, built from adders.

    One term ``x << i`` per bit of ``y``, summed in a balanced tree. Synthesis maps only
    multiplication operators to DSP blocks; this stays in logic (LUTs and carry chains).
    """
    return _adder_tree([Mux(y[i], x << i, 0) for i in range(len(y))])


def _adder_tree(terms):
    """Return the sum of ``terms`` as a balanced tree of two-input adders."""
    while len(terms) > 1:
        terms = [a + b for a, b in zip(terms[::2], terms[1::2])] + terms[len(terms) & ~1:]
    return terms[0]


class PostProcessor(wiring.Component):
    """Turn accumulators into the next layer's int8 activations, as
    :func:`tessera.golden.quant.requantize`.

    For each element of the input stream::

        t = (acc + bias) * multiplier                 # exact, 49-bit signed
        r = (t + (1 << (shift - 1))) >> shift         # shift > 0; r = t when shift == 0
        r = max(r, 0) if relu
        y = clip(r, -128, 127)                        # saturation to int8

    and ``y = acc`` unchanged when ``raw`` is set (the int32 accumulator, without bias).
    Nothing wraps: the bias add is one bit wider than the accumulator and the product holds
    every value the contract allows. A shift above 47 is outside the contract; the unit then
    shifts by ``shift`` all the same (the result is 0 or -1 before ReLU and saturation).

    Parameters
    ----------
    acc_width : int
        Width of the signed accumulator and bias, 16..32 (default 32).
    multiplier : {"dsp", "logic"}
        How stages 2 and 3 multiply: two multiplication operators (two 18x18 DSP blocks, the
        default; on an ECP5 explicit MULT18X18D instances with their own registers), or
        :func:`shift_add_multiply` in logic, split into four registered parts, for a device
        whose DSP blocks the systolic array's PEs have taken. Values and timing do not depend
        on it.

    Members
    -------
    i : In(stream.Signature(postproc_input_layout(acc_width)))
        Accumulators with their channel's parameters: ``acc`` and ``bias``
        (``signed(acc_width)``), ``multiplier`` (``unsigned(16)``), ``shift`` (``unsigned(6)``),
        ``relu`` and ``raw`` (1 bit each). Every element carries its own parameters, so a
        stream may mix channels and layers freely.
    o : Out(stream.Signature(signed(acc_width)))
        The result: the int8 ``y`` sign-extended, or the raw accumulator.

    Timing
    ------
    A seven-stage pipeline (bias add; the operands of two partial products, one DSP block
    each; the partial products; their sum; shift; round; ReLU and saturate), so that no stage
    holds more than one carry chain, and a DSP block's multiply has a stage of its own with
    the routes to and from it in stages of their own (on the ECP5 its input and output
    registers are the block's own). An element accepted at one clock edge appears on ``o``
    after the seventh edge (:attr:`LATENCY`) when ``o`` is not stalled.
    The stages carry only what the stages after them need: a raw element goes through the
    arithmetic as ``(acc + 0) * 1 >> 0`` (so the accumulator has no flip-flops of its own), and
    the rounded value keeps ``acc_width + 1`` bits plus an out-of-range flag and its sign (a
    value outside saturates whatever its low bits). At ``acc_width=32`` on the ECP5: 258
    flip-flops with ``multiplier="dsp"`` (the products sit in the blocks' output registers), 487
    with ``"logic"`` (its stage 2 holds eight partial products); 488 before this narrowing.
    Throughput is one element per cycle. Back-pressure stalls the whole pipeline: ``i.ready`` is
    ``o.ready`` or an empty output stage (combinational from ``o.ready``), so nothing is dropped
    or duplicated. Reset empties the pipeline.
    """

    LATENCY = 7

    def __init__(self, *, acc_width=32, multiplier="dsp"):
        self.acc_width = check_int(acc_width, "acc_width", 16, 32)
        self.multiplier = check_choice(multiplier, "multiplier", ("dsp", "logic"))
        self.Input = postproc_input_layout(self.acc_width)
        super().__init__({
            "i": In(stream.Signature(self.Input)),
            "o": Out(stream.Signature(signed(self.acc_width))),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.acc_width
        advance = Signal()
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance),
        ]

        # Each stage: a valid bit and the fields still needed downstream.
        valid = Signal(self.LATENCY - 1)
        p = self.i.payload

        # Stage 1: bias add, one bit wider than the accumulator so it cannot wrap. A raw
        # element takes the arithmetic path as (acc + 0) * 1 >> 0, which is acc exactly, so
        # the accumulator needs no flip-flops of its own through the stages.
        s1_sum = Signal(signed(w + 1))
        s1_multiplier = Signal(MULTIPLIER_WIDTH)
        s1_shift = Signal(SHIFT_WIDTH)
        s1_relu, s1_raw = Signal(), Signal()

        # Stages 2 and 3: two products, each one 18x18 DSP multiply with nothing in front of it
        # or behind it: the sum's low 17 bits (unsigned) and its high bits (signed), times the
        # multiplier (:meth:`_multiply`).
        low_bits = min(17, w)  # leaves the signed high part at least its sign bit
        s3_low = Signal(low_bits + MULTIPLIER_WIDTH)
        s3_high = Signal(signed(w + 1 - low_bits + MULTIPLIER_WIDTH))
        self._multiply(m, platform, advance, s1_sum[:low_bits], s1_multiplier, s3_low, "low")
        self._multiply(m, platform, advance, s1_sum[low_bits:].as_signed(), s1_multiplier,
                       s3_high, "high")
        s2_shift, s3_shift = Signal(SHIFT_WIDTH), Signal(SHIFT_WIDTH)
        s2_relu, s2_raw, s3_relu, s3_raw = Signal(), Signal(), Signal(), Signal()

        # Stage 4: the exact product (w + 1) x 17 bits signed, from the two products.
        s4_product = Signal(signed(w + 1 + MULTIPLIER_WIDTH))
        s4_shift = Signal(SHIFT_WIDTH)
        s4_relu, s4_raw = Signal(), Signal()

        # Stage 5: the barrel shifter. (t << 1) >> s is t >> (s - 1) for s >= 1 and 2t for
        # s == 0, so that stage 6's (x + 1) >> 1 rounds both cases: floor((t + 2**(s-1)) / 2**s),
        # and t itself when s == 0.
        s5_shifted = Signal(signed(w + 2 + MULTIPLIER_WIDTH))
        s5_relu, s5_raw = Signal(), Signal()

        # Stage 6: round to nearest, ties toward +infinity. Only the low w + 1 bits are rounded
        # and go on, with a flag for a value outside them (found beside the rounding, not after
        # it) and its sign: such a value rounds to at least 2**(w-1) in magnitude, which
        # saturates (w >= 16); a raw element (2 * acc) is always inside.
        s5_high = s5_shifted[w:]
        s6_rounded = Signal(signed(w + 1))
        s6_outside, s6_negative = Signal(), Signal()
        s6_relu, s6_raw = Signal(), Signal()

        with m.If(advance):
            m.d.sync += valid.eq(Cat(self.i.valid, valid[:-1]))
            m.d.sync += [
                s1_sum.eq(p.acc + Mux(p.raw, 0, p.bias)),
                s1_multiplier.eq(Mux(p.raw, 1, p.multiplier)),
                s1_shift.eq(Mux(p.raw, 0, p.shift)),
                s1_relu.eq(p.relu),
                s1_raw.eq(p.raw),

                s2_shift.eq(s1_shift),
                s2_relu.eq(s1_relu),
                s2_raw.eq(s1_raw),

                s3_shift.eq(s2_shift),
                s3_relu.eq(s2_relu),
                s3_raw.eq(s2_raw),

                s4_product.eq(s3_low + (s3_high << low_bits)),
                s4_shift.eq(s3_shift),
                s4_relu.eq(s3_relu),
                s4_raw.eq(s3_raw),

                s5_shifted.eq((s4_product << 1) >> s4_shift),
                s5_relu.eq(s4_relu),
                s5_raw.eq(s4_raw),

                s6_rounded.eq((s5_shifted[:w + 1].as_signed() + 1) >> 1),
                s6_outside.eq(s5_high.any() & ~s5_high.all()),
                s6_negative.eq(s5_shifted[-1]),
                s6_relu.eq(s5_relu),
                s6_raw.eq(s5_raw),
            ]

            # Stage 7: the raw accumulator, or ReLU and saturation.
            negative = Mux(s6_outside, s6_negative, s6_rounded < 0)
            m.d.sync += self.o.valid.eq(valid[-1])
            with m.If(s6_raw):
                m.d.sync += self.o.payload.eq(s6_rounded)
            with m.Elif(s6_relu & negative):
                m.d.sync += self.o.payload.eq(0)
            with m.Elif(s6_outside):
                m.d.sync += self.o.payload.eq(Mux(s6_negative, -128, 127))
            with m.Elif(s6_rounded < -128):
                m.d.sync += self.o.payload.eq(-128)
            with m.Elif(s6_rounded > 127):
                m.d.sync += self.o.payload.eq(127)
            with m.Else():
                m.d.sync += self.o.payload.eq(s6_rounded)

        return m

    def _multiply(self, m, platform, advance, x, y, product, name):
        """``product`` <= ``x * y`` two advancing edges after ``x`` and ``y``: stages 2 and 3.

        - ``"dsp"`` on an ECP5: a MULT18X18D with its own input and output registers (stage 2
          the operands, stage 3 the product), enabled by ``advance``, so that the routes to
          and from the DSP column each have a cycle of their own.
        - ``"dsp"`` elsewhere: the same two registers in behaviour (a multiplication operator
          between them, which synthesis maps to a DSP block).
        - ``"logic"``: a registered partial-product split: stage 2 holds ``x`` times each
          quarter of ``y`` (:func:`shift_add_multiply`: four shifted terms, two adder levels),
          stage 3 their sum (two adder levels more).
        """
        if self.multiplier == "dsp" and uses_mult18x18d(platform):
            mult18x18d(m, x, y, product, enable=advance, name=f"mult_{name}")
            return
        if self.multiplier == "dsp":
            operands = [Signal.like(x, name=f"s2_{name}_x"), Signal.like(y, name=f"s2_{name}_y")]
            stage2 = [x, y]
            stage3 = operands[0] * operands[1]
        else:
            step = -(-len(y) // LOGIC_PARTS)
            cuts = range(0, len(y), step)
            # x times a slice of h bits fits len(x) + h bits, with x's signedness.
            operands = [Signal(Shape(len(x) + len(y[low:low + step]), x.shape().signed),
                               name=f"s2_{name}_p{low}") for low in cuts]
            stage2 = [shift_add_multiply(x, y[low:low + step]) for low in cuts]
            stage3 = _adder_tree([operand << low for operand, low in zip(operands, cuts)])
        with m.If(advance):
            m.d.sync += [reg.eq(value) for reg, value in zip(operands, stage2)]
            m.d.sync += product.eq(stage3)
