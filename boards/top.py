"""A board top: the board's link device on its UART pins, clocked by its oscillator."""

from amaranth import *
from amaranth.lib import io

from .registry import board, board_device

__all__ = ["BoardTop"]


class BoardTop(Elaboratable):
    """The top of board ``name``'s bitstream (:data:`tessera.boards.registry.BOARDS`; or a
    :class:`tessera.boards.registry.Board`, for instance one with another core).

    The UART pins are requested with ``dir="-"`` and driven through :mod:`amaranth.lib.io`
    buffers; the ``sync`` domain is the platform's default clock (the board's oscillator, with
    the platform's reset synchronizer), or, for a board with ``pll_hz``, a PLL's output
    (:class:`tessera.boards.pll.ECP5PLL`, :class:`tessera.boards.pll.ICE40PLL`).
    """

    def __init__(self, name):
        self.board = board(name)
        self.device = board_device(name)

    def elaborate(self, platform):
        m = Module()
        if self.board.pll_hz:
            from .pll import ECP5PLL, ICE40PLL

            m.domains.sync = ClockDomain("sync")
            pll = ECP5PLL if self.board.family == "ecp5" else ICE40PLL
            m.submodules.pll = pll(self.board.pll_hz)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.submodules.device = device = self.device
        m.d.comb += [device.rx.eq(rx.i), tx.o.eq(device.tx)]
        return m
