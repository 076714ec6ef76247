"""Golden cycle model of tessera's sparse PE array (hw/sparse): exact cycle counts of a layer.

For a matrix in EIE format, an activation vector and a configuration (``N`` PEs, queue depth
``D``) it predicts what the array's counters read after the layer: the cycles of the compute
phase, per PE the cycles it was busy (issuing an entry, padding included) and the cycles the
broadcast stalled on its full queue, the non-zero activations broadcast, and the cycles of
write-back when the host takes the outputs without back-pressure. The hardware must equal it
exactly (tests/hw/test_sparse.py); nothing here is fitted: every term is a stage of
hw/sparse, and the docstrings of those units state the timing this model relies on.

The microarchitecture as a recurrence
-------------------------------------
Cycle 0 is the cycle the RUN command is taken; the compute phase is cycles 1 .. X, where X is
the first cycle in which everything is idle. The non-zero activations are taken in column
order ``j_0 < j_1 < ... < j_{M-1}``; column ``j`` belongs to detector group ``j // N``.

*Non-zero detector.* Group 0 is read at cycle 1 and its activations reach the detector's
register at cycle 3 (block RAM read, then register). A group's non-zeros are offered one per
cycle; when its last one is taken the next group is read, two cycles away, and an all-zero
group costs two cycles. So non-zero ``m`` is offered from

    P_m = B_{m-1} + 1                  (same group as m - 1)
    P_m = B_{m-1} + 2 + 2 z_m          (first of its group; B_{-1} = 1)

where ``B`` is the cycle a non-zero is broadcast and ``z_m`` the number of all-zero groups
between the two groups (before ``j_0``'s group for ``m = 0``).

*Broadcast* (registered). The broadcast may send in cycle ``t`` only if every queue held at most
``D - 2`` pairs in cycle ``t - 1`` (each queue registers its "almost full", ``level >= D - 1``;
their NOR is registered as the broadcast's ``go``), so the decision uses last cycle's flags and
the pair sent in ``t - 1`` still finds room. ``T_{k,m}`` is the cycle PE ``k`` reads pair ``m``
out of its queue (it has left the queue from ``T + 1``). In cycle ``t - 1 >= B_{m-1} + 1`` the
queues hold the ``m`` pairs written so far, less those read before ``t - 1``, so pair
``m - D + 1`` must have been read by ``t - 2``. Only the first cycle ``P_m = B_{m-1} + 1`` of a
non-zero offered straight after the previous one differs: its flags predate the write of pair
``m - 1``, so pair ``m - D`` must have been read by ``P_m - 2``:

    B_m = P_m                                   if P_m = B_{m-1} + 1 and T_{k,m-D} <= P_m - 2
                                                   for every k (or m < D)
    B_m = max(E_m, max_k T_{k,m-D+1} + 2)       otherwise (B_m = E_m if m < D - 1)

with ``E_m = P_m + 1`` when that first cycle was refused and ``E_m = P_m`` when ``P_m`` follows
a gap. In each waiting cycle the broadcast waits on every PE whose queue was almost full in the
cycle before: PE ``k``'s *stall* counter grows by one for the refused first cycle when
``T_{k,m-D} >= P_m - 1``, and by ``max(0, T_{k,m-D+1} + 2 - E_m)`` for the cycles from ``E_m``.

*Pointer read unit*, two stages of one column each. A pair written at ``B`` can be read at
``B + 1``; the read stage takes it in the cycle it frees, ``V_{k,m-1}``; it moves into the span
stage in the cycle that one frees, ``C_{k,m-1}``, and never before the cycle after its read:

    T_{k,m} = max(B_m + 1, V_{k,m-1}),     V_{k,m} = max(T_{k,m} + 1, C_{k,m-1})

An empty column (``e = entries[k, j_m] == 0``) is dropped in its first cycle in the span stage:
``C_{k,m} = V_{k,m} + 1``. A non-empty one waits for the sparse-matrix read unit, free from
``A_k`` (the cycle after its last issue), and issues its first entry when it is taken:

    S_{k,m} = max(V_{k,m} + 1, A_k),   C_{k,m} = S_{k,m},   A_k = S_{k,m} + e

so PE ``k`` is *busy* (issues an entry) at ``S .. S + e - 1`` for each of its non-empty columns.

*End of compute.* An entry issued at ``t`` reaches the word register at ``t + 2``, is multiplied
at ``t + 3`` and added at ``t + 5``: the PE is idle from ``t + 6`` (from ``V + 2`` after dropping
an empty last column). The detector is idle from ``B_{M-1} + max(2 z_tail, 1)`` (``z_tail``
all-zero groups after the last non-zero). ``X`` is the latest of these.

*Write-back* starts at ``X + 1``: the array's one post-processor takes the rows in order, one
per cycle: row ``i`` is read from PE ``i % N``, registered, and passed to the post-processor
(:data:`POSTPROC_LATENCY` stages); the outputs leave in row order, one per cycle, whether they
are sent to the host or only go to the destination buffers, and the phase ends one cycle after
the last one: ``rows + 10`` cycles, 1 for an empty layer (``rows + 9`` before the
post-processor's multiplier took a second stage). (Before the post-processor was shared, one
per PE, a layer whose outputs were not sent took ``ceil(rows / N) + 9``.)

The loop runs over the non-zero activations and is vectorised over the PEs, so a full-size
layer of EIE's Table III (VGG-6: 4,591 non-zeros on 64 PEs) takes tens of milliseconds.

Load balance (EIE, section VI-C) is the fraction of cycles a PE does useful work, averaged over
PEs: ``mean(busy) / cycles``, padding counting as work as in the paper.
"""

from dataclasses import dataclass

import numpy as np

from .errors import TesseraError, check_int, check_int_array

__all__ = [
    "PE_DRAIN",
    "POSTPROC_LATENCY",
    "SparseCycles",
    "entries_from_coo",
    "layer_cycles",
    "matrix_cycles",
    "writeback_cycles",
]

#: Cycles from a PE's last issue to the first cycle it is idle (word read and register,
#: decode, multiply and read, register, add).
PE_DRAIN = 6
#: Stages of hw/postproc.PostProcessor (its LATENCY; tests/golden/test_sparse_cycles.py checks
#: that the two agree).
POSTPROC_LATENCY = 7
#: Write-back cycles beyond one per output: the accumulator read and its register, the
#: post-processor, and the cycle in which the last output is counted.
WRITEBACK_OVERHEAD = 2 + POSTPROC_LATENCY + 1


@dataclass(frozen=True)
class SparseCycles:
    """What the array's counters read after one layer (see the module docstring).

    Attributes
    ----------
    cycles : int
        Cycles of the compute phase.
    busy : numpy.ndarray of int64, shape (n_pes,)
        Cycles each PE issued an entry (padding included): its work.
    stall : numpy.ndarray of int64, shape (n_pes,)
        Cycles the broadcast waited on each PE's full queue.
    nonzeros : int
        Non-zero activations broadcast.
    writeback : int
        Cycles of the write-back phase, when the host takes outputs without back-pressure.
    """

    cycles: int
    busy: np.ndarray
    stall: np.ndarray
    nonzeros: int
    writeback: int

    @property
    def n_pes(self):
        return int(self.busy.shape[0])

    @property
    def total(self):
        """Compute and write-back cycles."""
        return self.cycles + self.writeback

    @property
    def idle(self):
        """Cycles each PE issued nothing during the compute phase."""
        return self.cycles - self.busy

    @property
    def load_balance(self):
        """EIE's load-balance efficiency: ``mean(busy) / cycles`` (1.0 for an empty layer)."""
        return float(self.busy.mean() / self.cycles) if self.cycles and self.busy.size else 1.0

    @property
    def entries(self):
        """Entries processed by all PEs (padding included)."""
        return int(self.busy.sum())

    def as_dict(self):
        """JSON-friendly figures."""
        return {"cycles": self.cycles, "writeback_cycles": self.writeback,
                "nonzeros": self.nonzeros, "entries": self.entries,
                "load_balance": self.load_balance, "busy": self.busy.tolist(),
                "stall": self.stall.tolist()}


def writeback_cycles(rows, n_pes, *, emit=True):
    """Write-back cycles of a layer of ``rows`` outputs without back-pressure.

    One post-processor serves every PE, in row order, so the count depends on neither
    ``n_pes`` (checked all the same) nor ``emit`` (kept so that callers describe the layer).
    """
    rows = check_int(rows, "rows", 0, 2**31)
    check_int(n_pes, "n_pes", 1, 2**16)
    if rows == 0:
        return 1
    return rows + WRITEBACK_OVERHEAD


def layer_cycles(entries, x, *, fifo_depth, rows, emit=True):
    """Predict the counters of one layer from its work matrix.

    Parameters
    ----------
    entries : array_like of int, shape (n_pes, cols)
        Entries (padding included) of each PE in each column: ``EIEMatrix.entries``.
    x : array_like, shape (cols,)
        The activations (only which are non-zero matters); a boolean mask works too.
    fifo_depth : int
        Activation queue depth ``D``, >= 2 (the broadcast needs room for two).
    rows : int
        Rows of the layer (for write-back).
    emit : bool
        The outputs are sent to the host (the write-back cycles are the same either way).

    Returns
    -------
    SparseCycles

    Raises
    ------
    TesseraError
        On a wrong shape or type, negative entries, or a depth below 2.
    """
    entries = check_int_array(entries, "entries", low=0)
    if entries.ndim != 2 or entries.shape[0] < 1:
        raise TesseraError(f"entries must have shape (n_pes, cols), not {entries.shape}")
    n_pes, cols = entries.shape
    x = np.asarray(x)
    if x.shape != (cols,):
        raise TesseraError(f"x must have shape ({cols},), not {x.shape}")
    x = check_int_array(x, "x", allow_bool=True)
    depth = check_int(fifo_depth, "fifo_depth", 2, 2**16)
    writeback = writeback_cycles(rows, n_pes, emit=emit)

    active = np.flatnonzero(x)
    count = int(active.size)
    groups = -(-cols // n_pes)
    if cols == 0:
        empty = np.zeros(n_pes, dtype=np.int64)
        return SparseCycles(1, empty, empty.copy(), 0, writeback)
    group = active // n_pes
    skipped = np.diff(group, prepend=-1) - 1  # all-zero groups before each non-zero's group
    first = np.diff(group, prepend=-1) > 0     # the first non-zero of its group
    gap = np.where(first, 2 + 2 * np.maximum(skipped, 0), 1).tolist()
    work = np.ascontiguousarray(entries[:, active].T.astype(np.int64))  # (M, n_pes)
    nonempty = work > 0

    never = np.iinfo(np.int64).min // 2
    popped = np.empty((count, n_pes), dtype=np.int64)  # T: cycle each pair left each queue
    read_free = np.full(n_pes, never, dtype=np.int64)  # V: read stage frees
    span_free = np.full(n_pes, never, dtype=np.int64)  # C: span stage frees
    unit_free = np.zeros(n_pes, dtype=np.int64)        # A: sparse-matrix read unit
    last_issue = np.full(n_pes, never, dtype=np.int64)
    stall = np.zeros(n_pes, dtype=np.int64)
    broadcast = 1  # B_{-1}
    scratch = np.empty(n_pes, dtype=np.int64)
    blocked = np.empty(n_pes, dtype=bool)
    for m in range(count):
        offered = broadcast + gap[m]
        earliest = offered  # the first cycle that needs pair m - D + 1 out of every queue
        broadcast = offered
        if gap[m] == 1 and m >= depth:
            # Offered the cycle after m - 1 went: the flags saw m - 1 not yet written, so pair
            # m - D must have left every queue before that cycle.
            np.greater_equal(popped[m - depth], offered - 1, out=blocked)
            if blocked.any():
                stall += blocked
                earliest = offered + 1
        if m >= depth - 1 and (gap[m] > 1 or earliest > offered):
            ahead = popped[m - depth + 1]
            broadcast = max(earliest, int(ahead.max()) + 2)
            np.subtract(ahead, earliest - 2, out=scratch)
            np.maximum(scratch, 0, out=scratch)
            stall += scratch
        t = popped[m]
        np.maximum(read_free, broadcast + 1, out=t)
        np.maximum(t + 1, span_free, out=read_free)   # V: into the span stage
        e = work[m]
        taken = np.maximum(read_free + 1, unit_free)
        hit = nonempty[m]
        np.copyto(span_free, read_free + 1)
        np.copyto(span_free, taken, where=hit)
        np.copyto(unit_free, taken + e, where=hit)
        np.copyto(last_issue, taken + e - 1, where=hit)

    if count:
        tail = groups - 1 - int(group[-1])
        detector_idle = broadcast + max(2 * tail, 1)
        pe_idle = np.maximum(last_issue + PE_DRAIN, read_free + 2)
        end = max(detector_idle, int(pe_idle.max()))
    else:
        end = 1 + 2 * groups
    busy = work.sum(axis=0) if count else np.zeros(n_pes, dtype=np.int64)
    return SparseCycles(int(end), busy.astype(np.int64), stall, count, writeback)


def matrix_cycles(matrix, x, *, fifo_depth, emit=True):
    """Predict the counters of ``y = W x`` for a tessera.golden.eie.EIEMatrix ``matrix``."""
    x = np.asarray(x)
    if x.shape != (matrix.cols,):
        raise TesseraError(f"x must have shape ({matrix.cols},), not {x.shape}")
    return layer_cycles(matrix.entries, x, fifo_depth=fifo_depth, rows=matrix.rows, emit=emit)


def entries_from_coo(row, col, shape, *, n_pes, rel_bits=4):
    """Return the work matrix ``entries`` of an EIE encoding without building the encoding.

    Equal to ``tessera.golden.eie.encode(...).entries`` for the matrix whose non-zeros are at
    ``(row[i], col[i])`` (unique pairs), for matrices too large to hold densely (EIE's
    Table III layers): each PE's column costs its non-zeros plus one padding entry per
    ``2**rel_bits`` zeros before one of them.

    Returns
    -------
    numpy.ndarray of int64, shape (n_pes, cols)
    """
    rows, cols = (check_int(s, "shape", 0, 2**31) for s in shape)
    n_pes = check_int(n_pes, "n_pes", 1, 2**16)
    rel_bits = check_int(rel_bits, "rel_bits", 1, 8)
    row = check_int_array(row, "row")
    col = check_int_array(col, "col")
    if row.shape != col.shape or row.ndim != 1:
        raise TesseraError("row and col must be 1-D arrays of the same length")
    if row.size and (row.min() < 0 or row.max() >= rows or col.min() < 0 or col.max() >= cols):
        raise TesseraError(f"coordinates must lie inside the shape {(rows, cols)}")
    pe, local = row % n_pes, row // n_pes
    group = pe * cols + col
    order = np.lexsort((local, group))
    group, local = group[order], local[order]
    previous = np.full(local.shape, -1, dtype=np.int64)
    if local.size > 1:
        same = group[1:] == group[:-1]
        previous[1:][same] = local[:-1][same]
    cost = (local - previous - 1) // 2**rel_bits + 1
    out = np.bincount(group, weights=cost, minlength=n_pes * cols)
    return out.astype(np.int64).reshape(n_pes, cols)
