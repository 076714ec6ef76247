"""The ECP5's 18 x 18 DSP multiplier (MULT18X18D) with its own input and output registers."""

from amaranth import *

__all__ = ["mult18x18d", "uses_mult18x18d"]


def uses_mult18x18d(platform):
    """Whether a design elaborated for ``platform`` instantiates MULT18X18D blocks itself:
    on an ECP5 (a platform whose ``family`` is ``"ecp5"``), not in simulation or elsewhere."""
    return getattr(platform, "family", None) == "ecp5"


def mult18x18d(m, a, b, product, *, enable=1, name="mult"):
    """Multiply in an ECP5 MULT18X18D with its input and output registers (REG_INPUTA/B,
    REG_OUTPUT): ``product`` shows ``a * b`` two enabled edges after ``a`` and ``b`` are sampled.

    ``a`` and ``b`` are signed values of at most 18 bits (an unsigned operand of at most 17
    bits, zero-extended, is one), ``product`` takes the low bits of the signed 36-bit product.
    ``enable`` is the registers' clock enable (both stages hold while it is low), so that the
    block can sit inside a pipeline that stalls.

    Yosys' ``synth_ecp5`` maps a multiplication to a MULT18X18D but leaves its registers unused,
    and the fabric's registers cannot sit beside the DSP column: routing to and from the block
    then lies on the multiplier's path. Here both registers are in the block, so each of those
    routes has a cycle of its own.
    """
    if len(product) > 36:
        raise ValueError(f"product must be at most 36 bits wide, not {len(product)}")
    ports = {
        "i_CLK0": ClockSignal(), "i_CE0": Value.cast(enable),
        # A board top's domain may be reset-less (the ULX3S's is): then the block never resets.
        "i_RST0": ResetSignal(allow_reset_less=True),
        "i_SIGNEDA": C(1, 1), "i_SIGNEDB": C(1, 1), "i_SOURCEA": C(0, 1), "i_SOURCEB": C(0, 1),
    }
    a18, b18 = Signal(signed(18), name=f"{name}_a"), Signal(signed(18), name=f"{name}_b")
    m.d.comb += [a18.eq(a), b18.eq(b)]
    for bit in range(18):
        ports[f"i_A{bit}"] = a18[bit]
        ports[f"i_B{bit}"] = b18[bit]
        ports[f"i_C{bit}"] = C(0, 1)
    for bit in range(len(product)):
        ports[f"o_P{bit}"] = product[bit]
    registers = {f"p_REG_{reg}_{what}": value
                 for reg in ("INPUTA", "INPUTB", "OUTPUT")
                 for what, value in (("CLK", "CLK0"), ("CE", "CE0"), ("RST", "RST0"))}
    m.submodules[name] = Instance(
        "MULT18X18D", **registers,
        p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE",
        p_RESETMODE="SYNC", p_GSR="DISABLED", p_SOURCEB_MODE="B_SHIFT",
        p_MULT_BYPASS="DISABLED", p_CAS_MATCH_REG="FALSE", **ports)
