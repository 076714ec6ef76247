"""The protocol of the sparse PE array: command opcodes, every payload layout, error bits.

Every command is one transfer on the array's ``i`` stream: a :func:`command_layout` struct of
``op``, ``pe``, ``addr`` and ``data``. The array answers on its ``o`` stream with 32-bit words:
a layer's outputs when its RUN asks for them, and the :func:`stats_layout` words after STATS.
These layouts are the one definition of the wire format: the hardware decodes through them and
the host encoder (:mod:`tessera.sim.host.sparse`) packs and unpacks through them.

=========  ====================  =====================  ======================================
op         pe                    addr                   data
=========  ====================  =====================  ======================================
CODEBOOK   (ignored: all PEs)    ``slot * 2**ib + i``   :func:`codebook_layout`
POINTERS   PE                    pointer pair ``w``     :func:`pointers_layout`
SPMAT      PE                    word address           :func:`spmat_layout`
PARAMS     PE                    parameter row          :data:`params_layout`
ACT        lane group ``g``      word ``a``             :data:`act_layout`: lane ``n`` for PE
                                                        ``8g + n % G``, local ``S a + n // G``
RUN        (ignored)             ``cols``               :data:`run_layout`
STATS      (ignored)             (ignored)              (ignored)
=========  ====================  =====================  ======================================

Activation ``j`` lives in PE ``j % N`` at local address ``j // N``. An ACT feeds ``G =
min(N, 8)`` PEs at ``S = max(1, 8 // N)`` local addresses each (``act_group``, ``act_span`` of
:class:`~tessera.golden.config.SparseConfig`), so it uses all eight lanes when ``N`` divides 8
or is a multiple of 8, and its lanes are ``G * S`` consecutive activations. Row ``i`` of a
layer lives in PE ``i % N`` at local row ``i // N``, with its requantization parameters at
parameter row ``param_base + i // N``. A CODEBOOK command writes entry ``i`` of codebook slot
``slot`` (``ib`` = ``index_bits``; slots ``0 .. codebooks - 1``); a RUN decodes through the slot
it names. Column pointers of a layer start at pointer index ``ptr_base`` and hold absolute
entry addresses in the PE's matrix memory, so several layers can stay resident.
"""

from amaranth import signed, unsigned
from amaranth.lib import data, enum
from tessera.golden.config.sparse import (
    ACC_WIDTH,
    ACT_LANES,
    ACT_WIDTH,
    CODEBOOK_BITS,
    FIELD_WIDTH,
)

__all__ = [
    "STATS_HEADER", "Error", "Op", "act_layout", "codebook_layout", "command_layout",
    "params_layout", "pointers_layout", "run_layout", "spmat_entry_layout", "spmat_layout",
    "stats_layout",
]


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

    #: A configuration write to an address past its memory (a codebook slot past
    #: ``codebooks`` too), or to a PE that does not exist: the write is ignored.
    CONFIG = 1
    #: A RUN whose columns, rows, pointer or parameter range does not fit the memories, or whose
    #: codebook slot does not exist: the layer is skipped (no compute, no outputs, no swap).
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


#: The ``data`` field of a RUN command (``addr`` holds the number of columns). The layer's
#: fields travel on to the PEs and their write-back units as one member of this layout.
run_layout = data.StructLayout({
    "rows": unsigned(FIELD_WIDTH),
    "ptr_base": unsigned(FIELD_WIDTH),
    "param_base": unsigned(FIELD_WIDTH),
    "relu": 1,
    "raw": 1,
    "emit": 1,
    "codebook": unsigned(CODEBOOK_BITS),
})

#: The ``data`` field of a PARAMS command.
params_layout = data.StructLayout({
    "bias": signed(ACC_WIDTH),
    "multiplier": unsigned(16),
    "shift": unsigned(6),
})

#: The ``data`` field of an ACT command: eight int8 activations, lane ``n`` for PE ``8g + n % G``
#: at local address ``S * addr + n // G`` (lanes from ``G * S`` up are ignored).
act_layout = data.ArrayLayout(signed(ACT_WIDTH), ACT_LANES)


def codebook_layout(config):
    """Return the ``data`` field of a CODEBOOK command: one signed codebook value."""
    return data.StructLayout({"value": signed(config.weight_width)})


def pointers_layout(config):
    """Return the ``data`` field of a POINTERS command: pointers ``p[2w]`` and ``p[2w + 1]``."""
    return data.StructLayout({
        "even": unsigned(config.ptr_bits),
        "odd": unsigned(config.ptr_bits),
    })


def spmat_entry_layout(config):
    """Return one entry of the sparse-matrix memory: a codebook index and a relative index."""
    return data.StructLayout({
        "index": unsigned(config.index_bits),
        "rel": unsigned(config.rel_bits),
    })


def spmat_layout(config):
    """Return the ``data`` field of a SPMAT command: one matrix-memory word of entries.

    Entry ``n`` of the word is element ``n`` (from bit 0 up), the order of
    :func:`tessera.golden.eie.pack_entries`.
    """
    return data.ArrayLayout(spmat_entry_layout(config), config.entries_per_word)


#: The first STATS words, before ``busy[0..N-1]`` and ``stall[0..N-1]``.
STATS_HEADER = ("cycles", "writeback_cycles", "errors", "nonzeros")


def stats_layout(config):
    """Return the STATS readout: its ``o`` words, first word in the lowest 32 bits.

    The :data:`STATS_HEADER` counters, then ``busy`` and ``stall`` of every PE (32 bits each).
    """
    counter = unsigned(ACC_WIDTH)
    return data.StructLayout({
        **{name: counter for name in STATS_HEADER},
        "busy": data.ArrayLayout(counter, config.n_pes),
        "stall": data.ArrayLayout(counter, config.n_pes),
    })
