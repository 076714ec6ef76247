"""The int8 multiply-accumulate processing element (PE)."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["MACPE"]


class MACPE(wiring.Component):
    """int8 multiply-accumulate processing element: ``acc <= acc + a * w``.

    The cell of the systolic array: a signed int8 activation and weight in, a signed accumulator
    out, and the activation passed on to the right-hand neighbour one cycle later.

    The multiply and the add are two pipeline stages: the product is registered before it is
    accumulated, so that an FPGA maps the multiplier to a DSP block with its output register and
    the adder does not sit behind it on the critical path.

    Parameters
    ----------
    acc_width : int
        Width of the signed accumulator, from 16 (the smallest that holds -128 * -128 = 16384)
        to 64. Default 32.

    Members
    -------
    a : In(signed(8))
        Activation.
    w : In(signed(8))
        Weight.
    en : In(1)
        Accumulate ``a * w``.
    clr : In(1)
        Start a new accumulation.
    a_out : Out(signed(8))
        ``a`` delayed by one cycle, for the neighbour.
    acc : Out(signed(acc_width))
        The accumulator.

    Timing
    ------
    ``a``, ``w``, ``en`` and ``clr`` are sampled together at a clock edge; their effect is
    visible on ``acc`` two edges later (latency 2) and one new input is taken every cycle
    (throughput 1). ``a_out`` shows ``a`` one edge later, whatever ``en`` and ``clr`` are.

    ===  ===  =========================================================
    clr  en   effect on ``acc``
    ===  ===  =========================================================
    0    0    holds
    0    1    ``acc + a * w``
    1    0    0
    1    1    ``a * w``: clear and start the next sum in the same cycle
    ===  ===  =========================================================

    Overflow
    --------
    The accumulator wraps modulo ``2**acc_width`` (two's complement), as a hardware adder does;
    :func:`golden.mac.mac_trace` defines the same arithmetic. Pick ``acc_width`` for the longest
    sum: ``K`` products of at most 16384 in magnitude need ``acc_width >= 16 + ceil(log2(K))``.

    Reset
    -----
    The synchronous reset of the ``sync`` domain clears ``acc``, ``a_out`` and the product stage.
    """

    def __init__(self, *, acc_width=32):
        self.acc_width = check_int(acc_width, "acc_width", 16, 64)
        super().__init__({
            "a": In(signed(8)),
            "w": In(signed(8)),
            "en": In(1),
            "clr": In(1),
            "a_out": Out(signed(8)),
            "acc": Out(signed(self.acc_width)),
        })

    def elaborate(self, platform):
        m = Module()

        # Stage 1: register the product with the controls that travel with it.
        product = Signal(signed(16))
        en = Signal()
        clr = Signal()
        m.d.sync += [
            product.eq(self.a * self.w),
            en.eq(self.en),
            clr.eq(self.clr),
            self.a_out.eq(self.a),
        ]

        # Stage 2: accumulate. The sum is truncated to acc_width bits, which wraps.
        with m.If(clr):
            m.d.sync += self.acc.eq(Mux(en, product, 0))
        with m.Elif(en):
            m.d.sync += self.acc.eq(self.acc + product)

        return m
