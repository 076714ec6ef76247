"""The host interface of the sparse PE array: command opcodes, payload layouts, error bits.

Every command is one transfer on the array's ``i`` stream: a struct of ``op``, ``pe``, ``addr``
and ``data`` (packed from bit 0 in that order). The array answers on its ``o`` stream with
32-bit words: a layer's outputs when its RUN asks for them, and the statistics after STATS.

=========  ====================  =====================  ======================================
op         pe                    addr                   data
=========  ====================  =====================  ======================================
CODEBOOK   (ignored: all PEs)    codebook index         signed value (``weight_width`` bits)
POINTERS   PE                    pointer pair ``w``     ``p[2w] | p[2w+1] << ptr_bits``
SPMAT      PE                    word address           packed entries (:func:`entry` order)
PARAMS     PE                    parameter row          ``bias | multiplier << 32 | shift << 48``
ACT        lane group ``k // 8`` local address          eight int8 lanes, PE ``8g + n`` in
                                                        bits ``8n .. 8n + 7``
RUN        (ignored)             ``cols``               :data:`run_layout`
STATS      (ignored)             (ignored)              (ignored)
=========  ====================  =====================  ======================================

Activation ``j`` lives in PE ``j % N`` at local address ``j // N``; row ``i`` of a layer in PE
``i % N`` at local row ``i // N``, with its requantization parameters at parameter row
``param_base + i // N``. Column pointers of a layer start at pointer index ``ptr_base`` and hold
absolute entry addresses in the PE's matrix memory, so several layers can stay resident.
"""

from amaranth import unsigned
from amaranth.lib import data, enum

from .config import ACC_WIDTH, FIELD_WIDTH

__all__ = ["STATS_HEADER", "Error", "Op", "command_layout", "params_layout", "run_layout"]


class Op(enum.Enum, shape=4):
    """Command opcodes."""

    NOP = 0
    CODEBOOK = 1
    POINTERS = 2
    SPMAT = 3
    PARAMS = 4
    ACT = 5
    RUN = 6
    STATS = 7


class Error(enum.IntFlag):
    """Sticky error bits (the ``error`` port and the third STATS word).

    They are set by the hardware, never by a hang: every bad input below is ignored or skipped
    and flagged, and the array keeps accepting commands. Reset and a STATS readout clear them.
    """

    #: A configuration write to an address past its memory, or to a PE that does not exist:
    #: the write is ignored.
    CONFIG = 1
    #: A RUN whose columns, rows, pointer or parameter range does not fit the memories: the
    #: layer is skipped (no compute, no outputs, no swap).
    RUN = 2
    #: A column whose end pointer runs past the matrix memory or lies before its start pointer:
    #: the column is skipped by that PE.
    POINTER = 4
    #: An entry whose relative indices walk past the PE's rows of the layer: it and the rest of
    #: its column are ignored by that PE.
    ROW = 8
    #: An entry whose codebook index was never loaded: it contributes nothing.
    CODE = 16


def command_layout(config):
    """Return the struct layout of a command for ``config`` (a :class:`SparseConfig`)."""
    return data.StructLayout({
        "op": Op,
        "pe": unsigned(config.pe_bits),
        "addr": unsigned(FIELD_WIDTH),
        "data": unsigned(config.data_width),
    })


#: The ``data`` field of a RUN command (``addr`` holds the number of columns).
run_layout = data.StructLayout({
    "rows": unsigned(FIELD_WIDTH),
    "ptr_base": unsigned(FIELD_WIDTH),
    "param_base": unsigned(FIELD_WIDTH),
    "relu": 1,
    "raw": 1,
    "emit": 1,
})

#: The ``data`` field of a PARAMS command.
params_layout = data.StructLayout({
    "bias": unsigned(ACC_WIDTH),
    "multiplier": unsigned(16),
    "shift": unsigned(6),
})

#: The first STATS words, before ``busy[0..N-1]`` and ``stall[0..N-1]``.
STATS_HEADER = ("cycles", "writeback_cycles", "errors", "nonzeros")
