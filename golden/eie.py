"""EIE's interleaved compressed sparse column (CSC) format and the sparse matrix-vector golden.

The format (Han et al., EIE, ISCA 2016, section III)
----------------------------------------------------
A weight matrix ``W`` of shape ``(rows, cols)`` computes ``y = W x``: a column ``j`` is the fan-out
of activation ``x[j]``, a row ``i`` an output. Rows are interleaved over ``n_pes`` processing
elements: **row i belongs to PE i mod N**, where it is *local row* ``i // N``. Each PE stores, for
each column in order, the non-zero weights of its rows as *entries*:

- ``v``: the codebook index of the weight (``index_bits`` wide, 4 in EIE). Index 0 is reserved for
  the value 0 (``codebook[0] == 0``), so ``2**index_bits - 1`` indices are left for non-zero
  centroids.
- ``z``: the *relative row index*, the number of zero rows (of this PE, in this column) between
  this entry and the previous one, or the top of the column for the first entry (``rel_bits`` wide,
  4 in EIE). An entry at local row ``r`` therefore follows the previous one at ``r_prev`` with
  ``z = r - r_prev - 1`` (``r_prev = -1`` at the top of the column).
- **Padding**: when more than ``2**rel_bits - 1`` zeros precede a non-zero, a padding entry
  ``(v=0, z=2**rel_bits - 1)`` is inserted; it stands for the zero right after a full run of
  ``2**rel_bits - 1`` zeros, so it advances the row by ``2**rel_bits``, and it contributes
  ``codebook[0] * x[j] = 0``. A gap of ``g`` zeros takes ``g // 2**rel_bits`` padding entries and
  leaves ``z = g % 2**rel_bits``. Zeros after the last non-zero of a column need no entry.
- ``col_ptr[k]``: for PE ``k``, ``cols + 1`` column pointers into its own entry memory:
  column ``j``'s entries are ``col_ptr[k, j] : col_ptr[k, j + 1]`` (padding entries included),
  ``col_ptr[k, 0] == 0``. EIE's pointers are 16 bits (``ptr_bits``).

EIE's example: the column ``[0, 0, 1, 2, 0 x 18, 3]`` on one PE encodes to ``v = [1, 2, 0, 3]``,
``z = [2, 0, 15, 2]`` (codebook indices standing for the values).

In memory (:class:`EIEMatrix`) the entries of all PEs are concatenated, PE 0's first, each PE's in
column order: ``v[pe_ptr[k] : pe_ptr[k + 1]]`` are PE ``k``'s, and ``pe_ptr[k + 1] - pe_ptr[k] ==
col_ptr[k, -1]``. :meth:`EIEMatrix.pe` returns one PE's memories as views.

The cycle model's input is :attr:`EIEMatrix.entries`: an ``(n_pes, cols)`` array with the number
of entries (padding included) each PE processes for each column, and :attr:`EIEMatrix.padding`,
the padding part of it. For an input ``x``, PE ``k`` processes ``entries[k, j]`` entries for every
``j`` with ``x[j] != 0`` and nothing for the others (EIE skips zero activations).
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import TesseraError, check_int, check_int_array
from .gemm import wrap_int32
from .quant import INT32_MAX, INT32_MIN

__all__ = [
    "EIEMatrix",
    "MatrixShape",
    "PESlice",
    "SpMVResult",
    "decode",
    "decode_indices",
    "encode",
    "encode_values",
    "pack_entries",
    "spmv",
    "work",
]

MAX_INDEX_BITS = 8
MAX_REL_BITS = 8


@dataclass(frozen=True)
class PESlice:
    """One PE's memories: its entries and its column pointers (views into an EIEMatrix)."""

    #: Codebook indices, uint8, one per entry (0 for padding).
    v: np.ndarray
    #: Relative row indices, uint8, one per entry.
    z: np.ndarray
    #: ``cols + 1`` column pointers into ``v`` and ``z``, int64, starting at 0.
    col_ptr: np.ndarray
    #: Number of rows this PE holds (``ceil((rows - k) / n_pes)``).
    n_rows: int


class MatrixShape:
    """``rows`` and ``cols`` of anything with a ``shape`` of ``(rows, cols)``: a matrix, or
    where one is loaded."""

    @property
    def rows(self):
        """Number of rows (outputs)."""
        return self.shape[0]

    @property
    def cols(self):
        """Number of columns (inputs)."""
        return self.shape[1]


@dataclass(frozen=True, eq=False)
class EIEMatrix(MatrixShape):
    """A weight matrix in EIE's interleaved CSC format (see the module docstring).

    Build one with :func:`encode` or :func:`encode_values`; the constructor validates every field
    (so a corrupt model file is caught when it is loaded) and raises :class:`TesseraError`.

    Attributes
    ----------
    shape : (int, int)
        ``(rows, cols)`` of the dense matrix ``W`` in ``y = W x``.
    n_pes : int
        Number of PEs the rows are interleaved over (row ``i`` to PE ``i % n_pes``).
    rel_bits : int
        Width of a relative row index, 1..8 (EIE: 4).
    index_bits : int
        Width of a codebook index, 1..8 (EIE: 4).
    codebook : numpy.ndarray of int64, shape (2**index_bits,)
        The integer weight each index stands for; ``codebook[0] == 0``.
    col_ptr : numpy.ndarray of int64, shape (n_pes, cols + 1)
        Per-PE column pointers, each row starting at 0 and non-decreasing.
    v, z : numpy.ndarray of uint8, shape (n_entries,)
        Codebook indices and relative row indices of all PEs, concatenated PE by PE.
    pe_ptr : numpy.ndarray of int64, shape (n_pes + 1,)
        Where each PE's entries start in ``v`` and ``z``.
    """

    shape: tuple
    n_pes: int
    rel_bits: int
    index_bits: int
    codebook: np.ndarray
    col_ptr: np.ndarray
    v: np.ndarray
    z: np.ndarray
    pe_ptr: np.ndarray

    def __post_init__(self):
        if len(self.shape) != 2:
            raise TesseraError(f"an EIE matrix shape must be (rows, cols), not {self.shape!r}")
        rows = check_int(self.shape[0], "rows", 0, 2**31)
        cols = check_int(self.shape[1], "cols", 0, 2**31)
        object.__setattr__(self, "shape", (rows, cols))
        n_pes = check_int(self.n_pes, "n_pes", 1, 2**16)
        check_int(self.rel_bits, "rel_bits", 1, MAX_REL_BITS)
        check_int(self.index_bits, "index_bits", 1, MAX_INDEX_BITS)
        codebook = check_int_array(self.codebook, "codebook", ndim=1).astype(np.int64)
        if codebook.shape[0] != 2**self.index_bits:
            raise TesseraError(
                f"codebook must have 2**{self.index_bits} = {2**self.index_bits} entries, "
                f"not {codebook.shape[0]}"
            )
        if codebook[0] != 0:
            raise TesseraError(f"codebook[0] is reserved for zero, not {codebook[0]}")
        col_ptr = check_int_array(self.col_ptr, "col_ptr", ndim=2).astype(np.int64)
        if col_ptr.shape != (n_pes, cols + 1):
            raise TesseraError(f"col_ptr must have shape {(n_pes, cols + 1)}, not {col_ptr.shape}")
        if np.any(col_ptr[:, 0] != 0) or np.any(np.diff(col_ptr, axis=1) < 0):
            raise TesseraError("column pointers must start at 0 and never decrease")
        v = check_int_array(self.v, "v", ndim=1)
        z = check_int_array(self.z, "z", ndim=1)
        if v.shape != z.shape:
            raise TesseraError(
                f"v and z must have the same length, not {v.shape[0]} and {z.shape[0]}"
            )
        pe_ptr = check_int_array(self.pe_ptr, "pe_ptr", ndim=1).astype(np.int64)
        expected = np.concatenate([[0], np.cumsum(col_ptr[:, -1])])
        if pe_ptr.shape != expected.shape or np.any(pe_ptr != expected):
            raise TesseraError("pe_ptr does not match the per-PE entry counts in col_ptr")
        if expected[-1] != v.shape[0]:
            raise TesseraError(
                f"column pointers account for {expected[-1]} entries but there are {v.shape[0]}"
            )
        if v.size and (v.min() < 0 or v.max() >= 2**self.index_bits):
            raise TesseraError(f"a codebook index does not fit {self.index_bits} bits")
        if z.size and (z.min() < 0 or z.max() >= 2**self.rel_bits):
            raise TesseraError(f"a relative index does not fit {self.rel_bits} bits")
        for name, value in (("codebook", codebook), ("col_ptr", col_ptr), ("pe_ptr", pe_ptr),
                            ("v", v.astype(np.uint8)), ("z", z.astype(np.uint8))):
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        # Where each entry lands; raises for entries that run past the last row of their PE.
        _ = self._positions

    # -- sizes ---------------------------------------------------------------------------------

    @cached_property
    def rows_per_pe(self):
        """Number of rows each PE holds, shape ``(n_pes,)``: ``ceil((rows - k) / n_pes)``."""
        k = np.arange(self.n_pes)
        return np.maximum(0, (self.rows - k + self.n_pes - 1) // self.n_pes)

    @cached_property
    def entries(self):
        """Entries (padding included) per PE per column, int64 ``(n_pes, cols)``.

        ``entries[k, j] == col_ptr[k, j + 1] - col_ptr[k, j]``: the work PE ``k`` does, one entry
        a cycle in EIE, when activation ``j`` is non-zero.
        """
        out = np.diff(self.col_ptr, axis=1)
        out.flags.writeable = False
        return out

    @cached_property
    def padding(self):
        """Padding entries per PE per column, int64 ``(n_pes, cols)`` (part of :attr:`entries`)."""
        pe, col, _ = self._positions
        pad = self.v == 0
        n = self.n_pes * self.cols
        out = np.bincount(pe[pad] * self.cols + col[pad], minlength=n).reshape(
            self.n_pes, self.cols
        )
        out.flags.writeable = False
        return out.astype(np.int64)

    @property
    def n_entries(self):
        """Total number of entries, padding included."""
        return int(self.v.shape[0])

    @property
    def n_padding(self):
        """Number of padding entries (``v == 0``)."""
        return int(np.count_nonzero(self.v == 0))

    @property
    def nnz(self):
        """Number of non-zero weights stored (entries that are not padding)."""
        return self.n_entries - self.n_padding

    def pe(self, k):
        """Return PE ``k``'s memories as a :class:`PESlice` (read-only views)."""
        k = check_int(k, "PE", 0, self.n_pes - 1)
        lo, hi = self.pe_ptr[k], self.pe_ptr[k + 1]
        return PESlice(self.v[lo:hi], self.z[lo:hi], self.col_ptr[k], int(self.rows_per_pe[k]))

    # -- derived views -------------------------------------------------------------------------

    @cached_property
    def _positions(self):
        """(pe, col, global row) of every entry, int64 arrays in storage order."""
        n, cols = self.n_pes, self.cols
        counts = self.entries.ravel()  # PE-major, then column: the storage order
        group = np.repeat(np.arange(n * cols, dtype=np.int64), counts)
        step = self.z.astype(np.int64) + 1
        before = np.concatenate([[0], np.cumsum(step)])  # rows advanced before each entry
        starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
        local = before[1:] - before[starts][group] - 1
        pe, col = (group // cols, group % cols) if cols else (group, group)
        if local.size:
            beyond = local >= self.rows_per_pe[pe]
            if np.any(beyond):
                i = int(np.argmax(beyond))
                raise TesseraError(
                    f"corrupt EIE matrix: an entry of PE {pe[i]} in column {col[i]} lands on "
                    f"local row {local[i]}, past the PE's {self.rows_per_pe[pe[i]]} rows"
                )
        return pe, col, local * n + pe

    @cached_property
    def _row_view(self):
        """Non-padding entries sorted by row: (row_ptr, col, value); CSR derived from the format."""
        _, col, row = self._positions
        keep = self.v != 0
        row, col, value = row[keep], col[keep], self.codebook[self.v[keep]]
        order = np.argsort(row, kind="stable")
        row_ptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=self.rows))])
        return row_ptr, col[order].astype(np.intp), value[order]

    def __repr__(self):
        return (
            f"EIEMatrix(shape={self.shape}, n_pes={self.n_pes}, index_bits={self.index_bits}, "
            f"rel_bits={self.rel_bits}, nnz={self.nnz}, padding={self.n_padding})"
        )


def encode(indices, codebook, *, n_pes, rel_bits=4, index_bits=None, ptr_bits=None):
    """Encode a matrix of codebook indices in EIE's interleaved CSC format.

    Parameters
    ----------
    indices : array_like of int, shape (rows, cols)
        Codebook index of each weight; 0 means the weight is zero (pruned).
    codebook : array_like of int
        Integer weight values, ``codebook[0] == 0``; padded with zeros to ``2**index_bits``.
    n_pes : int
        Number of PEs, >= 1.
    rel_bits : int
        Relative-index width, 1..8 (EIE: 4).
    index_bits : int or None
        Codebook-index width, 1..8; by default the fewest bits that hold ``len(codebook)``.
    ptr_bits : int or None
        If given, the column-pointer width: a PE with more than ``2**ptr_bits - 1`` entries cannot
        be addressed and raises.

    Returns
    -------
    EIEMatrix

    Raises
    ------
    TesseraError
        On a wrong dtype or shape, an index outside the codebook, ``codebook[0] != 0``, widths out
        of range, or a PE whose entries overflow ``ptr_bits``-bit column pointers.
    """
    indices = check_int_array(indices, "indices", ndim=2)
    codebook = check_int_array(codebook, "codebook", ndim=1).astype(np.int64)
    n_pes = check_int(n_pes, "n_pes", 1, 2**16)
    rel_bits = check_int(rel_bits, "rel_bits", 1, MAX_REL_BITS)
    if codebook.size == 0 or codebook[0] != 0:
        raise TesseraError("codebook[0] is reserved for zero: the codebook must start with 0")
    if index_bits is None:
        index_bits = max(1, int(np.ceil(np.log2(codebook.size))))
    index_bits = check_int(index_bits, "index_bits", 1, MAX_INDEX_BITS)
    if codebook.size > 2**index_bits:
        raise TesseraError(
            f"a codebook of {codebook.size} values does not fit {index_bits}-bit indices"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= codebook.size):
        raise TesseraError(f"indices must be in [0, {codebook.size - 1}] (the codebook's range)")
    rows, cols = indices.shape
    r, c = np.nonzero(indices)
    values = indices[r, c].astype(np.uint8)
    pe, local = r % n_pes, r // n_pes
    order = np.lexsort((local, c, pe))  # storage order: PE, then column, then row
    pe, c, local, values = pe[order], c[order], local[order], values[order]
    group = pe * cols + c
    previous = np.full(local.shape, -1, dtype=np.int64)
    if local.size > 1:
        same = group[1:] == group[:-1]
        previous[1:][same] = local[:-1][same]
    gap = local - previous - 1
    span = 2**rel_bits
    block = gap // span + 1  # padding entries, then the weight itself
    end = np.cumsum(block) - 1
    total = int(end[-1] + 1) if end.size else 0
    v = np.zeros(total, dtype=np.uint8)
    z = np.full(total, span - 1, dtype=np.uint8)
    v[end] = values
    z[end] = gap % span
    counts = np.bincount(group, weights=block, minlength=n_pes * cols).astype(np.int64)
    col_ptr = np.zeros((n_pes, cols + 1), dtype=np.int64)
    col_ptr[:, 1:] = np.cumsum(counts.reshape(n_pes, cols), axis=1)
    if ptr_bits is not None:
        ptr_bits = check_int(ptr_bits, "ptr_bits", 1, 64)
        per_pe = col_ptr[:, -1]
        if per_pe.max(initial=0) > 2**ptr_bits - 1:
            k = int(np.argmax(per_pe))
            raise TesseraError(
                f"PE {k} holds {per_pe[k]} entries, more than {ptr_bits}-bit column pointers "
                f"can address ({2**ptr_bits - 1}); use more PEs or wider pointers"
            )
    full = np.zeros(2**index_bits, dtype=np.int64)
    full[: codebook.size] = codebook
    pe_ptr = np.concatenate([[0], np.cumsum(col_ptr[:, -1])])
    return EIEMatrix((rows, cols), n_pes, rel_bits, index_bits, full, col_ptr, v, z, pe_ptr)


def encode_values(matrix, *, n_pes, rel_bits=4, index_bits=4, ptr_bits=None):
    """Encode an integer matrix whose distinct non-zero values fit a codebook.

    The codebook is ``[0]`` followed by the distinct non-zero values in increasing order; it must
    fit ``2**index_bits - 1`` non-zero entries. Useful for random test matrices and for weights
    that are already shared.

    Raises
    ------
    TesseraError
        If the matrix has more distinct non-zero values than ``index_bits`` can index, or any
        reason :func:`encode` raises.
    """
    matrix = check_int_array(matrix, "matrix", ndim=2)
    index_bits = check_int(index_bits, "index_bits", 1, MAX_INDEX_BITS)
    values = np.unique(matrix[matrix != 0])
    if values.size > 2**index_bits - 1:
        raise TesseraError(
            f"{values.size} distinct non-zero values do not fit a {index_bits}-bit codebook "
            f"(at most {2**index_bits - 1} besides zero)"
        )
    codebook = np.concatenate([[0], values]).astype(np.int64)
    indices = np.searchsorted(codebook[1:], matrix) + 1
    indices[matrix == 0] = 0
    return encode(indices, codebook, n_pes=n_pes, rel_bits=rel_bits, index_bits=index_bits,
                  ptr_bits=ptr_bits)


def pack_entries(v, z, *, index_bits, rel_bits, entries_per_word):
    """Pack entries into memory words, as a sparse-matrix memory holds them.

    Entry ``e`` goes into word ``e // entries_per_word``, field ``n = e % entries_per_word``,
    which occupies bits ``n * (index_bits + rel_bits)`` and up, the codebook index in its low
    ``index_bits`` and the relative index above: ``field = v | z << index_bits``. The last word
    is filled with zero fields (never read). EIE's words hold 8 entries of 4 + 4 bits.

    Parameters
    ----------
    v, z : array_like of int
        Codebook indices and relative indices of one PE (:meth:`EIEMatrix.pe`).
    index_bits, rel_bits : int
        Field widths, 1..8; every ``v`` and ``z`` must fit.
    entries_per_word : int
        Fields per word, >= 1.

    Returns
    -------
    list of int
        ``ceil(len(v) / entries_per_word)`` words (Python integers: a word may exceed 64 bits).

    Raises
    ------
    TesseraError
        On a width out of range, ``v`` and ``z`` of different lengths, or a value that does not
        fit its field.
    """
    index_bits = check_int(index_bits, "index_bits", 1, MAX_INDEX_BITS)
    rel_bits = check_int(rel_bits, "rel_bits", 1, MAX_REL_BITS)
    per_word = check_int(entries_per_word, "entries_per_word", 1, 2**16)
    v = check_int_array(v, "v", ndim=1).astype(np.int64)
    z = check_int_array(z, "z", ndim=1).astype(np.int64)
    if v.shape != z.shape:
        raise TesseraError(f"v and z must have the same length, not {v.size} and {z.size}")
    if v.size and (v.min() < 0 or v.max() >= 2**index_bits):
        raise TesseraError(f"a codebook index does not fit {index_bits} bits")
    if z.size and (z.min() < 0 or z.max() >= 2**rel_bits):
        raise TesseraError(f"a relative index does not fit {rel_bits} bits")
    width = index_bits + rel_bits
    fields = np.zeros(-(-v.size // per_word) * per_word, dtype=np.int64)
    fields[: v.size] = v | (z << index_bits)
    fields = fields.reshape(-1, per_word)
    if width * per_word <= 64:
        shifts = (np.arange(per_word, dtype=np.uint64) * np.uint64(width))
        packed = np.bitwise_or.reduce(fields.astype(np.uint64) << shifts, axis=1)
        return [int(w) for w in packed.tolist()]
    words = [0] * fields.shape[0]
    for n in range(per_word):  # a Python loop over fields, not entries: wide words stay exact
        column = fields[:, n].tolist()
        for w in range(len(words)):
            words[w] |= column[w] << (n * width)
    return words


def decode_indices(matrix):
    """Return the ``(rows, cols)`` matrix of codebook indices (0 where the weight is zero)."""
    _, col, row = matrix._positions
    out = np.zeros(matrix.shape, dtype=np.int64)
    keep = matrix.v != 0
    out[row[keep], col[keep]] = matrix.v[keep]
    return out


def decode(matrix):
    """Return the dense integer matrix ``W`` (int64, ``(rows, cols)``) an EIEMatrix stands for."""
    return matrix.codebook[decode_indices(matrix)]


@dataclass(frozen=True)
class SpMVResult:
    """The result of :func:`spmv`: the output vector and the work each PE did."""

    #: ``W x`` as int32 accumulators, shape ``(rows,)``.
    y: np.ndarray
    #: Entries processed per PE per column, ``(n_pes, cols)``: ``EIEMatrix.entries`` where
    #: ``x[j] != 0``, 0 where the activation was skipped.
    entries: np.ndarray
    #: Padding entries among them, ``(n_pes, cols)``.
    padding: np.ndarray

    @property
    def per_pe(self):
        """Entries processed by each PE, padding included, ``(n_pes,)``."""
        return self.entries.sum(axis=1)

    @property
    def total(self):
        """Entries processed by all PEs together."""
        return int(self.entries.sum())

    @property
    def active_columns(self):
        """Number of non-zero activations (columns broadcast to the PEs)."""
        return int(np.count_nonzero(self.entries.any(axis=0)))


def _activations(matrix, x):
    x = check_int_array(x, "x")
    if x.ndim not in (1, 2) or x.shape[0] != matrix.cols:
        raise TesseraError(
            f"x must have shape ({matrix.cols},) or ({matrix.cols}, batch), not {x.shape}"
        )
    return x


def spmv(matrix, x, *, overflow="error"):
    """Compute ``y = W x`` from the EIE format, integer-exact, and the work each PE does.

    Columns with ``x[j] == 0`` are skipped: they contribute nothing and cost no entry. Every
    other column ``j`` costs PE ``k`` exactly ``matrix.entries[k, j]`` entries, padding included.
    The values are accumulated in int64 and returned as the int32 accumulators of the hardware.

    Parameters
    ----------
    matrix : EIEMatrix
    x : array_like of int, shape (cols,)
        Activations (int8 in tessera; any integer dtype is accepted).
    overflow : {"error", "wrap"}
        What an accumulator outside int32 does: raise, or wrap modulo ``2**32``.

    Returns
    -------
    SpMVResult

    Raises
    ------
    TesseraError
        On a wrong dtype or shape of ``x``, or (with ``overflow="error"``) an int32 overflow.
    """
    if overflow not in ("error", "wrap"):
        raise TesseraError(f"overflow must be 'error' or 'wrap', not {overflow!r}")
    x = _activations(matrix, x)
    if x.ndim != 1:
        raise TesseraError(f"spmv takes one activation vector of shape ({matrix.cols},)")
    x = x.astype(np.int64)
    active = x != 0
    row_ptr, col, value = matrix._row_view
    # Products of skipped columns are exactly 0: computing them is cheaper than selecting them.
    products = value * x[col]
    csum = np.concatenate([[0], np.cumsum(products)])
    y = csum[row_ptr[1:]] - csum[row_ptr[:-1]]
    if overflow == "wrap":
        y = wrap_int32(y)
    else:
        if y.size and (y.min() < INT32_MIN or y.max() > INT32_MAX):
            raise TesseraError("int32 accumulator overflow (pass overflow='wrap' to wrap around)")
        y = y.astype(np.int32)
    return SpMVResult(y, matrix.entries * active, matrix.padding * active)


def work(matrix, x):
    """Return the entries each PE processes, padding included, for activations ``x``.

    ``x`` of shape ``(cols,)`` gives ``(n_pes,)``; a batch ``(cols, batch)`` gives
    ``(batch, n_pes)``. The same figure as ``spmv(matrix, x).per_pe``, without the product.
    """
    x = _activations(matrix, x)
    active = (x != 0).astype(np.int64)
    return (matrix.entries @ active).T
