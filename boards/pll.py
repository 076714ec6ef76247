"""The ``sync`` domain from a PLL (ECP5 EHXPLLL, iCE40 SB_PLL40_PAD), for a board whose
design closes timing at another clock than its oscillator's."""

from amaranth import *
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer
from tessera.golden.errors import TesseraError

__all__ = ["ECP5PLL", "ICE40PLL", "ecp5_pll_dividers", "ice40_pll_dividers"]

#: The EHXPLLL's ranges (Lattice TN1263): phase detector input, VCO, output.
_PFD_MHZ = (3.125, 400.0)
_VCO_MHZ = (400.0, 800.0)
#: The SB_PLL40's ranges (Lattice's iCE40 sysCLOCK PLL guide): phase detector input, VCO; and
#: the loop filter setting for each phase detector frequency (upper bounds, MHz).
_ICE40_PFD_MHZ = (10.0, 133.0)
_ICE40_VCO_MHZ = (533.0, 1066.0)
_ICE40_FILTER = ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5), (133, 6))


def ecp5_pll_dividers(in_hz, out_hz):
    """Return ``(CLKI_DIV, CLKFB_DIV, CLKOP_DIV)`` that make exactly ``out_hz`` from ``in_hz``
    with feedback from CLKOP (``out = in * CLKFB_DIV / CLKI_DIV``, VCO ``= out * CLKOP_DIV``),
    the VCO as close to the middle of its range as possible.

    Raises
    ------
    TesseraError
        If no divider set gives ``out_hz`` exactly.
    """
    best = None
    for clki in range(1, 129):
        pfd = in_hz / clki / 1e6
        if not _PFD_MHZ[0] <= pfd <= _PFD_MHZ[1]:
            continue
        for clkfb in range(1, 81):
            if in_hz * clkfb != out_hz * clki:
                continue
            for clkop in range(1, 129):
                vco = out_hz * clkop / 1e6
                if _VCO_MHZ[0] <= vco <= _VCO_MHZ[1]:
                    score = abs(vco - sum(_VCO_MHZ) / 2)
                    if best is None or score < best[0]:
                        best = (score, (clki, clkfb, clkop))
    if best is None:
        raise TesseraError(f"an ECP5 PLL cannot make exactly {out_hz} Hz from {in_hz} Hz")
    return best[1]


def ice40_pll_dividers(in_hz, out_hz):
    """Return ``(DIVR, DIVF, DIVQ, FILTER_RANGE)`` of an SB_PLL40 in SIMPLE feedback that makes
    exactly ``out_hz`` from ``in_hz`` (``out = in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)``), the
    VCO as close to the middle of its range as possible.

    Raises
    ------
    TesseraError
        If no divider set gives ``out_hz`` exactly.
    """
    best = None
    for divr in range(16):
        pfd = in_hz / (divr + 1) / 1e6
        if not _ICE40_PFD_MHZ[0] <= pfd <= _ICE40_PFD_MHZ[1]:
            continue
        for divq in range(1, 7):
            for divf in range(128):
                if in_hz * (divf + 1) != out_hz * (divr + 1) * 2**divq:
                    continue
                vco = pfd * (divf + 1)
                if _ICE40_VCO_MHZ[0] <= vco <= _ICE40_VCO_MHZ[1]:
                    score = abs(vco - sum(_ICE40_VCO_MHZ) / 2)
                    if best is None or score < best[0]:
                        filt = next(f for top, f in _ICE40_FILTER if pfd < top)
                        best = (score, (divr, divf, divq, filt))
    if best is None:
        raise TesseraError(f"an iCE40 PLL cannot make exactly {out_hz} Hz from {in_hz} Hz")
    return best[1]


class _PLL(Elaboratable):
    """Drive the ``sync`` domain (which the top defines) at ``out_hz`` from the platform's
    default clock's pin through the family's PLL (``instance``); ``sync`` stays in reset until
    the PLL locks (through a reset synchronizer)."""

    def __init__(self, out_hz):
        self.out_hz = out_hz

    def elaborate(self, platform):
        m = Module()
        in_hz = int(platform.default_clk_frequency)
        pin = platform.request(platform.default_clk, dir="-")
        # ``keep``: the net keeps this name through synthesis, so that the clock constraint
        # below (which names it) reaches nextpnr.
        clk_out = Signal(name="pll_clkop", attrs={"keep": 1})
        locked = Signal(name="pll_lock")
        m.submodules.pll = self.instance(m, in_hz, pin, clk_out, locked)
        m.d.comb += ClockSignal("sync").eq(clk_out)
        platform.add_clock_constraint(clk_out, self.out_hz)
        m.submodules.reset = ResetSynchronizer(~locked, domain="sync")
        return m


class ICE40PLL(_PLL):
    """The ``sync`` domain at ``out_hz`` from an iCE40 SB_PLL40_PAD (simple feedback): the
    oscillator's pin feeds the PLL directly (on the UP5K it is the PLL's own input pad, which an
    SB_IO in front would take)."""

    def instance(self, m, in_hz, pin, clk_out, locked):
        divr, divf, divq, filt = ice40_pll_dividers(in_hz, self.out_hz)
        return Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE", p_DIVR=divr, p_DIVF=divf, p_DIVQ=divq,
            p_FILTER_RANGE=filt,
            i_PACKAGEPIN=pin.io, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=clk_out, o_LOCK=locked)


class ECP5PLL(_PLL):
    """The ``sync`` domain at ``out_hz`` from an ECP5 EHXPLLL (feedback from CLKOP)."""

    def instance(self, m, in_hz, pin, clk_out, locked):
        clki, clkfb, clkop = ecp5_pll_dividers(in_hz, self.out_hz)
        m.submodules.clk_in = clk_in = io.Buffer("i", pin)
        return Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=str(in_hz // 1_000_000),
            a_FREQUENCY_PIN_CLKOP=str(self.out_hz // 1_000_000),
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=clki, p_CLKFB_DIV=clkfb, p_FEEDBK_PATH="CLKOP",
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=clkop, p_CLKOP_CPHASE=clkop - 1,
            p_CLKOP_FPHASE=0,
            i_CLKI=clk_in.i, i_CLKFB=clk_out, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
            i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0, i_PHASELOADREG=0, i_PLLWAKESYNC=0,
            i_ENCLKOP=0,
            o_CLKOP=clk_out, o_LOCK=locked,
        )
