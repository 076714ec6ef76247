"""The parameters of the sparse PE array (:mod:`tessera.hw.sparse`), validated once.

Pure Python, no Amaranth: the hardware (:class:`tessera.hw.sparse.SparseArray` and every unit
inside it), the golden cycle model (:mod:`tessera.golden.sparse_cycles`) and the host encoder
(:mod:`tessera.sim.host.sparse`, which checks a matrix against the capacities here before
anything is sent) all read the same :class:`SparseConfig`. The widths of the protocol's fields
are here too, because the capacities are bounded by them; the layouts that use them are in
:mod:`tessera.hw.sparse.protocol`.
"""

from dataclasses import dataclass, fields

from ..errors import check_int

__all__ = ["ACC_WIDTH", "ACT_LANES", "ACT_WIDTH", "CODEBOOK_BITS", "FIELD_WIDTH", "MAX_FIELD",
           "SparseConfig"]

#: Width of an activation (int8, the numeric contract).
ACT_WIDTH = 8
#: Width of an accumulator, of a bias and of an output word (int32, the numeric contract).
ACC_WIDTH = 32
#: Width of the size fields of a RUN command (columns, rows, bases): 16 bits, so every depth
#: and every activation count is below 2**16.
FIELD_WIDTH = 16
#: The largest size a 16-bit field holds: the longest activation vector, the deepest memory.
MAX_FIELD = 2**FIELD_WIDTH - 1
#: Activations per ACT command: eight int8 lanes in the 64-bit data field.
ACT_LANES = 8
#: Width of a RUN command's codebook slot: at most ``2**CODEBOOK_BITS`` codebooks.
CODEBOOK_BITS = 4


def ceil_log2(value):
    """Return the smallest ``n`` with ``2**n >= value`` (``value >= 1``)."""
    return (int(value) - 1).bit_length()


@dataclass(frozen=True)
class SparseConfig:
    """Parameters of :class:`tessera.hw.sparse.SparseArray` and of every unit inside it, checked on
    construction.

    Parameters
    ----------
    n_pes : int
        Number of PEs, 1..64 (default 4). Row ``i`` of a layer lives in PE ``i % n_pes``, and so
        does activation ``j``: local address ``i // n_pes``.
    fifo_depth : int
        Depth of each PE's activation queue, 2..64 (default 8, EIE's). The broadcast sends only
        while every queue has room for two (a registered decision), so a queue holds at least 2.
    index_bits : int
        Width of a codebook index, 1..8 (default 4): ``2**index_bits`` codebook entries, entry 0
        reserved for zero (padding).
    rel_bits : int
        Width of a relative row index, 1..8 (default 4).
    weight_width : int
        Width of a signed codebook value, 2..16 (default 8).
    entries_per_word : int
        Entries packed in one sparse-matrix memory word, a power of two 1..16 (default 8: EIE's
        64-bit words of 4-bit index + 4-bit relative index).
    ptr_bits : int
        Width of a column pointer, 8..20 (default 16, EIE's).
    spmat_depth : int
        Sparse-matrix words per PE, 1..65535 (default 1024). ``spmat_depth *
        entries_per_word`` entries must be addressable by a ``ptr_bits`` pointer.
    ptr_depth : int
        Column pointers per PE (even and odd bank together), 2..65535 (default 1024): a layer
        of ``cols`` columns needs ``cols + 1`` of them.
    act_depth : int
        Activations per PE in each of the two activation buffers, and accumulators per PE,
        1..65535 (default 256): layers of up to ``act_depth * n_pes`` inputs and outputs.
    param_depth : int
        Requantization parameter rows per PE (bias, multiplier, shift), 1..65535 (default 256).
    codebooks : int
        Codebooks held at once, 1..16 (default 4): a layer's RUN names its slot, so every
        layer of a network keeps its codebook on chip. Slot ``s`` is codebook addresses
        ``s * 2**index_bits ..``.
    act_pack : bool
        An ACT command fills its eight lanes (default True): ``8 // n_pes`` activations a PE
        when fewer than eight PEs (:attr:`act_span`), the activation buffers then words of that
        many activations. False keeps one activation a PE and the buffers one activation wide:
        for parts whose block RAMs the wider word would not fit (the iCE40UP5K's boards, whose
        30 EBR are all in use).

    Raises
    ------
    TypeError
        If a parameter is not an integer.
    ValueError
        If a parameter is out of range, ``entries_per_word`` is not a power of two, the
        pointers cannot address the matrix memory, or a capacity does not fit the 16-bit fields
        of a RUN command.
    """

    n_pes: int = 4
    fifo_depth: int = 8
    index_bits: int = 4
    rel_bits: int = 4
    weight_width: int = 8
    entries_per_word: int = 8
    ptr_bits: int = 16
    spmat_depth: int = 1024
    ptr_depth: int = 1024
    act_depth: int = 256
    param_depth: int = 256
    codebooks: int = 4
    act_pack: bool = True

    def __post_init__(self):
        check_int(self.n_pes, "n_pes", 1, 64)
        check_int(self.fifo_depth, "fifo_depth", 2, 64)
        check_int(self.index_bits, "index_bits", 1, 8)
        check_int(self.rel_bits, "rel_bits", 1, 8)
        check_int(self.weight_width, "weight_width", 2, 16)
        check_int(self.entries_per_word, "entries_per_word", 1, 16)
        if self.entries_per_word & (self.entries_per_word - 1):
            raise ValueError(f"entries_per_word must be a power of two, not "
                             f"{self.entries_per_word}")
        check_int(self.ptr_bits, "ptr_bits", 8, 20)
        limit = MAX_FIELD
        check_int(self.spmat_depth, "spmat_depth", 1, limit)
        check_int(self.ptr_depth, "ptr_depth", 2, limit)
        check_int(self.act_depth, "act_depth", 1, limit)
        check_int(self.param_depth, "param_depth", 1, limit)
        check_int(self.codebooks, "codebooks", 1, 2**CODEBOOK_BITS)
        if not isinstance(self.act_pack, bool):
            raise TypeError(f"act_pack must be a bool, not {self.act_pack!r}")
        if self.capacity > 2**self.ptr_bits - 1:
            raise ValueError(
                f"spmat_depth * entries_per_word = {self.capacity} entries cannot be addressed "
                f"by {self.ptr_bits}-bit pointers (at most {2**self.ptr_bits - 1})")
        if self.max_acts > limit:
            raise ValueError(f"act_depth * n_pes = {self.max_acts} activations do not fit the "
                             f"16-bit size fields (at most {limit})")

    # -- derived widths and capacities -------------------------------------------------------

    @property
    def entry_width(self):
        """Bits of one (codebook index, relative index) entry."""
        return self.index_bits + self.rel_bits

    @property
    def word_width(self):
        """Bits of one sparse-matrix memory word."""
        return self.entries_per_word * self.entry_width

    @property
    def capacity(self):
        """Entries (padding included) each PE's matrix memory holds."""
        return self.spmat_depth * self.entries_per_word

    @property
    def max_acts(self):
        """Longest activation vector, input or output, the array holds."""
        return self.act_depth * self.n_pes

    @property
    def codebook_size(self):
        """Entries of one codebook (entry 0 the padding code)."""
        return 2**self.index_bits

    @property
    def codebook_depth(self):
        """Entries of every codebook slot together: the CODEBOOK command's address range."""
        return self.codebooks * self.codebook_size

    @property
    def pe_bits(self):
        """Width of the ``pe`` field of a command."""
        return max(1, ceil_log2(self.n_pes))

    @property
    def lane_groups(self):
        """Number of eight-PE lane groups an ACT command addresses."""
        return (self.n_pes + ACT_LANES - 1) // ACT_LANES

    @property
    def act_group(self):
        """PEs one ACT command feeds: ``min(n_pes, 8)`` (a lane group)."""
        return min(self.n_pes, ACT_LANES)

    @property
    def act_span(self):
        """Local addresses of each PE one ACT command writes: ``max(1, 8 // n_pes)``, a power
        of two, so that an ACT uses ``act_group * act_span`` of its eight lanes (all of them
        when ``n_pes`` divides 8 or is a multiple of 8); 1 without :attr:`act_pack`."""
        return max(1, ACT_LANES // self.n_pes) if self.act_pack else 1

    @property
    def act_words(self):
        """ACT addresses per lane group: ``ceil(act_depth / act_span)``."""
        return -(-self.act_depth // self.act_span)

    @property
    def data_width(self):
        """Width of the ``data`` field of a command."""
        return max(64, self.word_width, 2 * self.ptr_bits)

    @property
    def row_width(self):
        """Width of a local row counter that cannot wrap before it leaves the PE's rows."""
        return ceil_log2(self.act_depth + 2**self.rel_bits + 1)

    @property
    def global_width(self):
        """Width of a global row counter that cannot wrap before it leaves the layer's rows."""
        return ceil_log2(self.max_acts + 2**self.rel_bits * self.n_pes + 1)

    def params(self):
        """Return the parameters as a dict (for :class:`tessera.sim.runner.Design`)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}
