"""The host encoder of the sparse PE array: load matrices, run layers, read stats back.

No simulator: the same words drive a simulation (:mod:`tessera.sim.cosim.spmv`) or, later, a
board. Every word is packed through the protocol's layouts (:mod:`tessera.hw.sparse.protocol`)
and the STATS readout is decoded through :func:`~tessera.hw.sparse.protocol.stats_layout`.
Everything a command needs is checked here, before anything is sent, and bad
input raises :class:`tessera.golden.errors.TesseraError` with a one-line message: a matrix too large
for the memories, a format the array was not built for, an activation vector of the wrong
length or type. The hardware copes with whatever slips through (see
:class:`tessera.hw.sparse.protocol.Error`), but a correct host never trips those bits.

Typical use::

    program = Program(config)
    layer = program.load(matrix, bias, multiplier, shift)   # resident from now on
    program.activations(x)
    program.run(layer, relu=True, emit=True)
    program.stats()
    words = program.words                                   # one int per command
"""

from dataclasses import dataclass

import numpy as np
from tessera.golden.config.sparse import ACT_LANES
from tessera.golden.eie import MatrixShape
from tessera.golden.errors import TesseraError
from tessera.hw.sparse.protocol import (
    STATS_HEADER,
    Op,
    act_layout,
    codebook_layout,
    command_layout,
    params_layout,
    pointers_layout,
    run_layout,
    spmat_layout,
    stats_layout,
)

from .words import decode, encode, join_signed, words_to_array

__all__ = ["Layer", "Program", "act_commands", "parse_stats", "stats_words"]


@dataclass(frozen=True)
class Layer(MatrixShape):
    """Where a loaded layer lives in the array's memories."""

    #: ``(rows, cols)`` of the weight matrix.
    shape: tuple
    #: Codebook of the layer (``2**index_bits`` signed integers, entry 0 is 0).
    codebook: tuple
    #: Pointer index of column 0 (even).
    ptr_base: int
    #: Parameter row of local row 0.
    param_base: int
    #: First matrix-memory entry of the layer in each PE.
    entry_base: tuple


#: Width of one word on the array's ``o`` stream.
OUTPUT_WIDTH = 32


def stats_words(config):
    """Number of words a STATS command returns."""
    return stats_layout(config).size // OUTPUT_WIDTH


def parse_stats(words, config):
    """Turn the words of a STATS readout into a dict of counters (``busy``, ``stall`` arrays)."""
    if len(words) != stats_words(config):
        raise TesseraError(f"a STATS readout has {stats_words(config)} words, not {len(words)}")
    stats = decode(stats_layout(config), join_signed(words, OUTPUT_WIDTH))
    out = {name: stats[name] for name in STATS_HEADER}
    for name in ("busy", "stall"):
        out[name] = np.array([stats[name][k] for k in range(config.n_pes)], dtype=np.int64)
    return out


def _int_vector(value, name, length, low, high):
    array = np.asarray(value)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TesseraError(f"{name} must be an integer array, not {array.dtype}")
    if array.shape != (length,):
        raise TesseraError(f"{name} must have shape ({length},), not {array.shape}")
    if array.size and (array.min() < low or array.max() > high):
        bad = array.min() if array.min() < low else array.max()
        raise TesseraError(f"{name} must lie in [{low}, {high}], not {int(bad)}")
    return array.astype(np.int64)


def _words(v, z, per_word):
    """The (index, relative index) entries of each matrix-memory word, the last one padded."""
    entries = list(zip(np.asarray(v).tolist(), np.asarray(z).tolist()))
    entries += [(0, 0)] * (-len(entries) % per_word)
    return [entries[w:w + per_word] for w in range(0, len(entries), per_word)]


def act_commands(config, x):
    """Return the ACT commands (``pe``, ``addr``, ``data`` dicts) that load activations ``x``.

    Activation ``j`` goes to PE ``j % N`` at local address ``j // N``; one ACT feeds the PEs
    ``8g .. 8g + G - 1`` of lane group ``g`` (``G = act_group``) at the ``S = act_span`` local
    addresses ``S * addr ..``: lane ``n`` is PE ``8g + n % G``'s local ``S * addr + n // G``.
    """
    n, group, span = config.n_pes, config.act_group, config.act_span
    words = -(-len(x) // (n * span))
    commands = []
    for a in range(words):
        for g in range(config.lane_groups):
            lanes = [0] * ACT_LANES
            for lane in range(group * span):
                pe, local = ACT_LANES * g + lane % group, span * a + lane // group
                j = local * n + pe
                if pe < n and j < len(x):
                    lanes[lane] = int(x[j])
            commands.append({"pe": g, "addr": a, "data": encode(act_layout, lanes)})
    return commands


class Program:
    """A growing list of command words for one array configuration.

    Matrices are placed one after the other in every memory (pointers, entries, parameter
    rows), so several layers stay resident and a network runs layer after layer from the
    swapped activation buffers.

    Parameters
    ----------
    config : tessera.hw.sparse.SparseConfig
    """

    def __init__(self, config):
        self.config = config
        self.layout = command_layout(config)
        self.words = []
        self._ptr_next = 0
        self._param_next = 0
        self._entry_next = [0] * config.n_pes

    # -- low level -----------------------------------------------------------------------------

    def command(self, op, *, pe=0, addr=0, data=0):
        """Append one command word; ``data`` is the payload's bits (an integer).

        No range check: fields wider than the layout's are cut to it, as the wire would. The
        methods below check their input first; tests use this one to send bad commands.
        """
        self.words.append(encode(self.layout, {"op": Op(op), "pe": pe, "addr": addr,
                                               "data": data}))

    def decode(self, word):
        """Return the fields of a command word (a ``data.Const`` of :func:`command_layout`)."""
        return decode(self.layout, word)

    def pointers(self, pe, pair, even, odd):
        """Append a POINTERS command: pointers ``2 * pair`` and ``2 * pair + 1`` of PE ``pe``."""
        data = encode(pointers_layout(self.config), {"even": even, "odd": odd})
        self.command(Op.POINTERS, pe=pe, addr=pair, data=data)

    def run_fields(self, cols, *, rows, ptr_base=0, param_base=0, relu=False, raw=False,
                   emit=True, codebook=0):
        """Append a RUN command with these fields, unchecked (:meth:`run` runs a loaded layer)."""
        data = encode(run_layout, {"rows": rows, "ptr_base": ptr_base, "param_base": param_base,
                                   "relu": int(bool(relu)), "raw": int(bool(raw)),
                                   "emit": int(bool(emit)), "codebook": codebook})
        self.command(Op.RUN, addr=cols, data=data)

    @property
    def width(self):
        """Width of a command word in bits."""
        return self.layout.size

    def array(self):
        """The words as a ``(count, chunks)`` uint64 array (:func:`words_to_array`)."""
        return words_to_array(self.words, self.width)

    # -- layers --------------------------------------------------------------------------------

    def check(self, matrix):
        """Raise TesseraError unless ``matrix`` (a tessera.golden.eie.EIEMatrix) fits this array."""
        cfg = self.config
        if matrix.n_pes != cfg.n_pes:
            raise TesseraError(f"the matrix is interleaved over {matrix.n_pes} PEs, the array "
                               f"has {cfg.n_pes}")
        if matrix.rel_bits != cfg.rel_bits:
            raise TesseraError(f"the matrix has {matrix.rel_bits}-bit relative indices, the "
                               f"array reads {cfg.rel_bits}-bit ones")
        if matrix.index_bits > cfg.index_bits:
            raise TesseraError(f"the matrix has {matrix.index_bits}-bit codebook indices, the "
                               f"array decodes at most {cfg.index_bits} bits")
        low, high = -(2 ** (cfg.weight_width - 1)), 2 ** (cfg.weight_width - 1) - 1
        book = np.asarray(matrix.codebook)
        if book.min() < low or book.max() > high:
            raise TesseraError(f"codebook values must fit {cfg.weight_width}-bit signed "
                               f"weights [{low}, {high}], not {int(np.abs(book).max())}")
        for name, size in (("rows", matrix.rows), ("columns", matrix.cols)):
            if size > cfg.max_acts:
                raise TesseraError(
                    f"the matrix has {size} {name}, more than the {cfg.max_acts} activations "
                    f"the array holds (act_depth {cfg.act_depth} x {cfg.n_pes} PEs)")
        ptr_base = self._ptr_next
        if ptr_base + matrix.cols + 1 > cfg.ptr_depth:
            raise TesseraError(
                f"the matrix needs {matrix.cols + 1} column pointers per PE, only "
                f"{max(cfg.ptr_depth - ptr_base, 0)} of {cfg.ptr_depth} are left")
        rows_pe = int(matrix.rows_per_pe[0]) if matrix.rows else 0
        if self._param_next + rows_pe > cfg.param_depth:
            raise TesseraError(
                f"the matrix needs {rows_pe} parameter rows per PE, only "
                f"{cfg.param_depth - self._param_next} of {cfg.param_depth} are left")
        for k in range(cfg.n_pes):
            need = int(matrix.col_ptr[k, -1])
            left = cfg.capacity - self._entry_next[k]
            if need > left:
                raise TesseraError(
                    f"the matrix is too large for the memories: PE {k} needs {need} entries, "
                    f"{left} of {cfg.capacity} are left (spmat_depth {cfg.spmat_depth} x "
                    f"{cfg.entries_per_word}); use more PEs or a larger spmat_depth")

    def load(self, matrix, bias=None, multiplier=None, shift=None):
        """Load a matrix (tessera.golden.eie.EIEMatrix) and its requantization parameters.

        ``bias`` (int32), ``multiplier`` (0..65535) and ``shift`` (0..47) are per row (arrays
        of length ``rows``) or scalars; the defaults ``0, 1, 0`` make the int8 output the
        saturated accumulator. Returns the :class:`Layer` to :meth:`run`.
        """
        self.check(matrix)
        cfg = self.config
        rows = matrix.rows
        bias = _int_vector(np.broadcast_to(0 if bias is None else bias, (rows,)), "bias", rows,
                           -(2**31), 2**31 - 1)
        multiplier = _int_vector(np.broadcast_to(1 if multiplier is None else multiplier,
                                                 (rows,)), "multiplier", rows, 0, 2**16 - 1)
        shift = _int_vector(np.broadcast_to(0 if shift is None else shift, (rows,)), "shift",
                            rows, 0, 47)
        ptr_base, param_base = self._ptr_next, self._param_next
        bases = []
        spmat = spmat_layout(cfg)
        for k in range(cfg.n_pes):
            part = matrix.pe(k)
            base = self._entry_next[k]
            bases.append(base)
            pointers = [int(p) + base for p in part.col_ptr]
            if len(pointers) % 2:
                pointers.append(pointers[-1])
            for w in range(len(pointers) // 2):
                self.pointers(k, ptr_base // 2 + w, pointers[2 * w], pointers[2 * w + 1])
            for w, entries in enumerate(_words(part.v, part.z, cfg.entries_per_word)):
                data = encode(spmat, [{"index": v, "rel": z} for v, z in entries])
                self.command(Op.SPMAT, pe=k, addr=base // cfg.entries_per_word + w, data=data)
            used = -(-len(part.v) // cfg.entries_per_word) * cfg.entries_per_word
            self._entry_next[k] = base + used
            for r in range(part.n_rows):
                i = r * cfg.n_pes + k
                data = encode(params_layout, {"bias": int(bias[i]),
                                              "multiplier": int(multiplier[i]),
                                              "shift": int(shift[i])})
                self.command(Op.PARAMS, pe=k, addr=param_base + r, data=data)
        self._ptr_next = ptr_base + matrix.cols + 1 + (matrix.cols + 1) % 2
        self._param_next = param_base + (int(matrix.rows_per_pe[0]) if rows else 0)
        codebook = tuple(int(c) for c in matrix.codebook)
        return Layer(matrix.shape, codebook, ptr_base, param_base, tuple(bases))

    def codebook(self, values):
        """Load a codebook: entry 0 first (which starts a new table), then the others."""
        layout = codebook_layout(self.config)
        self.command(Op.CODEBOOK, addr=0, data=encode(layout, {"value": 0}))
        for index, value in enumerate(values[1:], start=1):
            self.command(Op.CODEBOOK, addr=index, data=encode(layout, {"value": int(value)}))

    def activations(self, x, cols=None):
        """Load an int8 activation vector into the source buffers."""
        cfg = self.config
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise TesseraError(f"activations must be int8, not {x.dtype}")
        if x.ndim != 1 or (cols is not None and x.shape[0] != cols):
            want = f"({cols},)" if cols is not None else "one dimension"
            raise TesseraError(f"activations must have shape {want}, not {x.shape}")
        if x.shape[0] > cfg.max_acts:
            raise TesseraError(f"{x.shape[0]} activations do not fit the {cfg.max_acts} the "
                               f"array holds")
        for command in act_commands(cfg, x):
            self.command(Op.ACT, **command)

    def run(self, layer, *, relu=False, raw=False, emit=True, codebook=True):
        """Run a loaded layer on the source activations (loading its codebook first)."""
        if codebook:
            self.codebook(layer.codebook)
        self.run_fields(layer.cols, rows=layer.rows, ptr_base=layer.ptr_base,
                        param_base=layer.param_base, relu=relu, raw=raw, emit=emit)

    def stats(self):
        """Ask for the counters (:func:`stats_words` words on ``o``; clears the error bits)."""
        self.command(Op.STATS)
