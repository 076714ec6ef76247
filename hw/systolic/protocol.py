"""The protocol of the systolic GEMM engine: every payload layout of its streams.

These layouts are the one definition of the wire format: the hardware
(:class:`tessera.hw.systolic.SystolicGemm`) takes its streams through them and the host encoder
(:mod:`tessera.sim.host.systolic`) packs and unpacks through them.

======  ==========================  ===========================================================
stream  payload                     one transfer
======  ==========================  ===========================================================
cmd     :func:`command_layout`      one GEMM: ``m``, ``k``, ``n``, ``relu``, ``raw``
a       :func:`operand_layout` (R)  one word of A, int8 lane ``i`` for array row ``i``
b       :func:`operand_layout` (C)  one word of B, int8 lane ``j`` for array column ``j``
q       :func:`quant_layout`        one output column's ``bias``, ``multiplier``, ``shift``
o       :func:`result_layout`       ``n`` results (1..lanes) of one row, int8 sign-extended or
                                    raw accumulators, the first in lane 0
======  ==========================  ===========================================================

The order of the words on ``a``, ``b`` and ``o`` is the golden model's
(:func:`tessera.golden.systolic.pack_a`, :func:`~tessera.golden.systolic.pack_b`,
:func:`~tessera.golden.systolic.result_order`).
"""

from amaranth import signed, unsigned
from amaranth.lib import data

from ..postproc import MULTIPLIER_WIDTH, SHIFT_WIDTH

__all__ = ["command_layout", "operand_layout", "quant_layout", "result_layout"]


def command_layout(config):
    """Return the payload of the ``cmd`` stream for ``config`` (a ``SystolicConfig``)."""
    return data.StructLayout({
        "m": range(config.max_m + 1),
        "k": range(config.max_k + 1),
        "n": range(config.max_n + 1),
        "relu": 1,
        "raw": 1,
    })


def operand_layout(lanes):
    """Return one operand word of ``lanes`` int8 values (the ``a`` and ``b`` streams)."""
    return data.ArrayLayout(signed(8), lanes)


def quant_layout(acc_width=32):
    """Return the requantization parameters of one output column (the ``q`` stream)."""
    return data.StructLayout({
        "bias": signed(acc_width),
        "multiplier": unsigned(MULTIPLIER_WIDTH),
        "shift": unsigned(SHIFT_WIDTH),
    })


def result_layout(lanes, acc_width=32):
    """Return one word of the ``o`` stream: ``lanes`` results and how many of them are valid.

    ``data`` holds results in lanes ``0 .. n - 1`` (consecutive columns of one row; the lanes
    above ``n`` are undefined); ``n`` is ``lanes`` except in a row's last word at the right edge
    of N (:func:`tessera.golden.systolic.result_lanes`).
    """
    return data.StructLayout({
        "data": data.ArrayLayout(signed(acc_width), lanes),
        "n": range(lanes + 1),
    })
