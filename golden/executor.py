"""Instruction-level golden executor of the tessera system: memories, outputs and cycles.

:class:`Executor` runs instructions (:mod:`tessera.golden.isa`) on a model of the system's
memories and produces exactly what the hardware must: the contents of every memory, the words of
the ``o`` stream, the sticky error bits, and the cycle count of every instruction.

Cycle model
-----------
An instruction's cycles run from the transfer of the first word of its header to the edge the
next instruction's header can start, with the ``cmd`` stream always valid and ``o`` always
ready; so a program of instructions takes the sum of their cycles. With ``H =``
:data:`~tessera.golden.isa.INSTRUCTION_WORDS` header words:

=========  ==========================================================================
LOAD       ``H + 3 + max(P, W)``: ``P`` payload words, ``W`` write cycles (``ceil(count/4)``
           into the activation memory, which takes four bytes a cycle; ``count`` elsewhere; a
           space that does not exist drains as bytes)
CONV       ``H + 4 + gemm_cycles(M, K, N)``: the systolic engine's own count
           (:func:`tessera.golden.systolic.gemm_cycles`, operands streamed from the on-chip
           memories at one word a cycle; each word of results, ``lanes`` consecutive output
           channels, written into the activation memory in the cycle it arrives, so the
           output path's lanes shorten the CONV through the engine's count alone)
FC         ``H + 5 + X + layer_cycles(...).total``: ``X = ceil(cols / (N * S)) * ceil(N / 8)
           * beats`` cycles of activation transfers into the sparse engine (an ACT command
           feeds ``min(N, 8)`` PEs at ``S = max(1, 8 // N)`` local addresses each, its lanes
           read in ``beats`` cycles: ``SystemConfig.act_beats``) and the engine's own count
           (:func:`tessera.golden.sparse_cycles.layer_cycles`, outputs emitted); a
           ``resident`` FC sends nothing and skips the transfers' read cycle: ``H + 4 +
           layer_cycles(...).total``
POOL       ``H + 6 + OH * OW * C * k * k``: one element read a cycle, after two address
           registers
READ       ``H + 2 + ceil(count / 4)``
STATS      ``H + 1 + 3 + logged``: dispatch, the three counters, one per logged instruction
BARRIER    ``H + 1``; NOP and a bad opcode too
skipped    ``H + 1``, a CONV or a POOL ``H + 2`` (a bad LOAD still takes its payload: its
           normal count)
=========  ==========================================================================

The overheads (``LOAD_OVERHEAD`` ...) are the command processor's (``hw/system/processor.py``):
one dispatch cycle after the header (a CONV and a POOL first wait :data:`CHECK_CYCLES` for the
header check's pipeline, bad ones too), a unit's results written in the cycle they arrive, and
the instruction's last cycle the first in which the processor sees its unit idle. The SPARSE
error bit is the sparse engine's own sticky bit: STATS does not clear it, reset does.
"""

from dataclasses import dataclass, field

import numpy as np

from .gemm import wrap_int32
from .isa import (
    INSTRUCTION_WORDS,
    PER_PE,
    Error,
    Op,
    OutKind,
    Raw,
    Space,
    pack_payload,
    payload_words,
    unpack_payload,
)
from .quant import requantize
from .sparse_cycles import layer_cycles
from .system_config import BIAS_BITS, MULTIPLIER_BITS
from .systolic import gemm_cycles

__all__ = ["CHECK_CYCLES", "STATS_HEADER", "Executor", "ProgramRun", "Retired",
           "fc_transfer_cycles", "instruction_errors", "run_program"]

#: The first words STATS sends, before the logged instructions' cycle counts.
STATS_HEADER = ("cycles", "errors", "retired")
#: Cycles a CONV and a POOL wait after their header for the header check's last stage (its
#: sizes and verdict: ``hw.system.check.LATENCY`` less the three words after the first).
CHECK_CYCLES = 1
#: A LOAD's cycles past its header and its payload or writes: dispatch, the unpacker's
#: register, the cycle the processor sees it idle.
LOAD_OVERHEAD = 3
#: A CONV's past the engine's own count: the header check, dispatch (the engine's command),
#: the last result's write, the cycle the processor sees the engine idle.
CONV_OVERHEAD = CHECK_CYCLES + 3
#: An FC's past its activation transfers and the engine's own count: dispatch, the read
#: latency of the first transfer (not for a resident input), the RUN command, the register
#: slice in front of the engine, the last output's write, the idle cycle.
FC_OVERHEAD = 5
#: A STATS's past its header and its words: dispatch.
STATS_OVERHEAD = 1
#: A READ's: dispatch, the memory's read latency.
READ_OVERHEAD = 2
#: A POOL's: the header check, dispatch, the unit's two address registers
#: (``hw.system.pool.ADDRESS_STAGES``), its read latency and last write, the idle cycle.
POOL_OVERHEAD = CHECK_CYCLES + 5
#: Width the payload of a LOAD to a space that does not exist is drained as (one byte a word).
UNKNOWN_SPACE_BITS = 8
#: Activation-memory bytes written a cycle by a LOAD.
ACT_WRITE_LANES = 4


def _ceil_div(a, b):
    return -(-a // b)


def _signed(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


@dataclass(frozen=True)
class Retired:
    """One executed instruction: its cycles, the error bits it raised (0 if none) and the
    multiply-accumulates its engine did (``macs``: ``M * K * N`` for a CONV, the entries the
    sparse PEs issued for an FC, padding included; 0 for every other instruction), and the
    cycles its unit computed (``compute``: the systolic engine's own count for a CONV, the
    sparse engine's for an FC, one a window element for a POOL; 0 otherwise). The rest of
    ``cycles`` is control and data movement: headers, dispatch, LOAD, READ, BARRIER, the
    activation transfers into the sparse engine."""

    instruction: object
    cycles: int
    errors: int
    macs: int = 0
    compute: int = 0


def _conv_geometry(i):
    """(OH, OW) of a CONV, or None when the geometry is bad (zero sizes, kernel too large)."""
    if min(i.h, i.w, i.c, i.oc, i.kernel, i.stride, i.rows) == 0:
        return None
    if i.kernel > i.h + 2 * i.padding or i.kernel > i.w + 2 * i.padding:
        return None
    return ((i.h + 2 * i.padding - i.kernel) // i.stride + 1,
            (i.w + 2 * i.padding - i.kernel) // i.stride + 1)


def _pool_geometry(i):
    if min(i.h, i.w, i.c, i.kernel, i.stride) == 0 or i.kernel > i.h or i.kernel > i.w:
        return None
    return (i.h - i.kernel) // i.stride + 1, (i.w - i.kernel) // i.stride + 1


def _ranges(depth, in_base, in_size, out_base, out_size, *past_other_memories):
    """ADDRESS if the input or output range runs past the activation memory, if they overlap,
    or if any of ``past_other_memories`` is true; else 0."""
    in_end, out_end = in_base + in_size, out_base + out_size
    overlap = in_base < out_end and out_base < in_end
    if in_end > depth or out_end > depth or overlap or any(past_other_memories):
        return Error.ADDRESS
    return 0


def instruction_errors(instr, config):
    """Return the :class:`Error` bits the command processor raises for ``instr`` (0: runs).

    Only what the hardware can check from the header and its configuration: opcodes, address
    ranges against the memories (and in/out overlap), geometry against the engines.
    """
    if isinstance(instr, Raw):
        if instr.opcode not in {o.value for o in Op}:
            return Error.OPCODE
        return 0
    depth = config.act_depth
    sys = config.systolic
    if instr.op == Op.LOAD:
        if instr.space not in {s.value for s in Space}:
            return Error.OPCODE
        space = Space(instr.space)
        if space in PER_PE and instr.pe >= config.sparse.n_pes:
            return Error.ADDRESS
        if instr.addr + instr.count > config.depth(space):
            return Error.ADDRESS
        return 0
    if instr.op == Op.CONV:
        geometry = _conv_geometry(instr)
        if geometry is None:
            return Error.GEOMETRY
        oh, ow = geometry
        k = instr.kernel * instr.kernel * instr.c
        if (k > sys.max_k or instr.oc > sys.max_n or instr.rows * ow > sys.max_m
                or instr.row0 + instr.rows > oh):
            return Error.GEOMETRY
        return _ranges(depth, instr.in_base, instr.h * instr.w * instr.c, instr.out_base,
                       oh * ow * instr.oc,
                       instr.w_base + sys.b_words(k, instr.oc) > config.weight_depth,
                       instr.q_base + instr.oc > config.qparam_depth)
    if instr.op == Op.FC:
        sp = config.sparse
        if min(instr.cols, instr.rows) == 0:
            return Error.GEOMETRY
        if instr.cols > sp.n_pes * sp.act_depth or instr.rows > sp.n_pes * sp.act_depth:
            return Error.GEOMETRY
        return _ranges(depth, instr.in_base, instr.cols, instr.out_base, instr.rows,
                       instr.codebook >= sp.codebooks,
                       instr.ptr_base + instr.cols + 1 > sp.ptr_depth,
                       instr.param_base + _ceil_div(instr.rows, sp.n_pes) > sp.param_depth)
    if instr.op == Op.POOL:
        geometry = _pool_geometry(instr)
        if geometry is None:
            return Error.GEOMETRY
        oh, ow = geometry
        return _ranges(depth, instr.in_base, instr.h * instr.w * instr.c, instr.out_base,
                       oh * ow * instr.c)
    if instr.op == Op.READ:
        return Error.ADDRESS if instr.addr + instr.count > depth else 0
    return 0


class Executor:
    """The system's state and its golden semantics, one instruction at a time.

    Parameters
    ----------
    config : SystemConfig

    Attributes
    ----------
    act : numpy.ndarray of int8, (act_depth,)
    weight : numpy.ndarray of int8, (weight_depth, cols)
        Each word's lanes, lane 0 first.
    qparam, sparam : numpy.ndarray of int64, (depth, 3) and (n_pes, depth, 3)
        Bias, multiplier, shift.
    codebook : numpy.ndarray of int64, (codebooks * 2**index_bits,)
        Every slot's entries, slot 0 first.
    pointer : numpy.ndarray of int64, (n_pes, ptr_depth)
    spmat_v, spmat_z : numpy.ndarray of int64, (n_pes, spmat_depth * entries_per_word)
    outputs : list of (OutKind, int)
        Every word sent on ``o``.
    errors : int
        The sticky error bits.
    """

    def __init__(self, config):
        self.config = config
        sp = config.sparse
        self.act = np.zeros(config.act_depth, dtype=np.int8)
        self.weight = np.zeros((config.weight_depth, config.systolic.cols), dtype=np.int8)
        self.qparam = np.zeros((config.qparam_depth, 3), dtype=np.int64)
        self.codebook = np.zeros(sp.codebook_depth, dtype=np.int64)
        self.pointer = np.zeros((sp.n_pes, sp.ptr_depth), dtype=np.int64)
        capacity = sp.spmat_depth * sp.entries_per_word
        self.spmat_v = np.zeros((sp.n_pes, capacity), dtype=np.int64)
        self.spmat_z = np.zeros((sp.n_pes, capacity), dtype=np.int64)
        self.sparam = np.zeros((sp.n_pes, sp.param_depth, 3), dtype=np.int64)
        #: Which codebook entries were loaded since reset or the last write to their slot's
        #: entry 0 (the sparse engine's rule: an entry that was not contributes nothing and is
        #: flagged).
        self.codebook_known = np.zeros(sp.codebook_depth, dtype=bool)
        #: The sparse engine's source and destination activation buffers, by column (``j``:
        #: PE ``j % N``, local ``j // N``); a layer's RUN swaps them.
        self.sparse_src = np.zeros(sp.max_acts, dtype=np.int8)
        self.sparse_dst = np.zeros(sp.max_acts, dtype=np.int8)
        #: The sparse engine's own sticky errors: cleared by reset only, not by STATS.
        self.sparse_errors = 0
        self.outputs = []
        self._macs = self._compute = 0
        self.reset_counters()

    def reset_counters(self):
        """Clear the counters, the log and the error bits (reset and STATS do)."""
        self.errors = 0
        self.total = 0
        self.retired = 0
        self.log = []

    # -- running -------------------------------------------------------------------------------

    def run(self, instructions):
        """Execute instructions in order; return one :class:`Retired` per instruction."""
        return [self.step(instr) for instr in instructions]

    def step(self, instr):
        """Execute one instruction and return its :class:`Retired`."""
        if isinstance(instr, Raw) or instr.op != Op.STATS:
            bad = instruction_errors(instr, self.config)
            self._macs = self._compute = 0
            if bad:
                cycles = (self._load_cycles(instr) if _is_load(instr)
                          else INSTRUCTION_WORDS + 1 + _check_cycles(instr))
            else:
                cycles = getattr(self, f"_{instr.op.name.lower()}")(instr)
            self.errors |= int(bad)
            self.total += cycles
            self.retired += 1
            if len(self.log) < self.config.stats_depth:
                self.log.append(cycles)
            return Retired(instr, cycles, int(bad), self._macs, self._compute)
        words = [self.total, self.errors | self.sparse_errors, self.retired, *self.log]
        self.outputs += [(OutKind.STATS, w & 0xFFFF_FFFF) for w in words]
        self.reset_counters()
        return Retired(instr, INSTRUCTION_WORDS + STATS_OVERHEAD + len(words), 0)

    # -- instructions --------------------------------------------------------------------------

    def _nop(self, instr):
        return INSTRUCTION_WORDS + 1

    def _barrier(self, instr):
        self.outputs.append((OutKind.BARRIER, instr.tag))
        return INSTRUCTION_WORDS + 1

    def _load_cycles(self, instr):
        bits = (self.config.word_bits(instr.space)
                if instr.space in {s.value for s in Space} else UNKNOWN_SPACE_BITS)
        words = payload_words(instr.count, bits)
        writes = (_ceil_div(instr.count, ACT_WRITE_LANES) if instr.space == Space.ACT
                  else instr.count)
        return INSTRUCTION_WORDS + LOAD_OVERHEAD + max(words, writes)

    def _load(self, instr):
        cfg = self.config
        space = Space(instr.space)
        bits = cfg.word_bits(space)
        words = np.array(unpack_payload(_payload(instr, bits), instr.count, bits),
                         dtype=object)
        a, b = instr.addr, instr.addr + instr.count
        sp = cfg.sparse
        if space == Space.ACT:
            self.act[a:b] = [_signed(int(w), 8) for w in words]
        elif space == Space.WEIGHT:
            for n, word in enumerate(words):
                self.weight[a + n] = [_signed(int(word) >> (8 * j), 8)
                                      for j in range(cfg.systolic.cols)]
        elif space in (Space.QPARAM, Space.SPARAM):
            params = [_qparam(int(w)) for w in words]
            target = self.qparam if space == Space.QPARAM else self.sparam[instr.pe]
            if params:
                target[a:b] = params
        elif space == Space.CODEBOOK:
            self.codebook[a:b] = [_signed(int(w), sp.weight_width) for w in words]
            size = sp.codebook_size
            for address in range(a, b):
                if address % size == 0:
                    self.codebook_known[address:address + size] = False
                self.codebook_known[address] = True
            self.codebook[::size] = 0    # each slot's entry 0 is the padding code: it reads 0
        elif space == Space.POINTER:
            mask = (1 << sp.ptr_bits) - 1
            for n, word in enumerate(words):
                self.pointer[instr.pe, 2 * (a + n)] = int(word) & mask
                self.pointer[instr.pe, 2 * (a + n) + 1] = int(word) >> sp.ptr_bits
        elif space == Space.SPMAT:
            per, width = sp.entries_per_word, sp.entry_width
            for n, word in enumerate(words):
                for e in range(per):
                    f = (int(word) >> (e * width)) & ((1 << width) - 1)
                    self.spmat_v[instr.pe, (a + n) * per + e] = f & ((1 << sp.index_bits) - 1)
                    self.spmat_z[instr.pe, (a + n) * per + e] = f >> sp.index_bits
        return self._load_cycles(instr)

    def _conv(self, instr):
        cfg = self.config.systolic
        _, ow = _conv_geometry(instr)
        h, w, c, oc = instr.h, instr.w, instr.c, instr.oc
        k = instr.kernel * instr.kernel * c
        image = self.act[instr.in_base:instr.in_base + h * w * c].reshape(1, h, w, c)
        p = instr.padding
        padded = np.pad(image.astype(np.int64), ((0, 0), (p, p), (p, p), (0, 0)))
        rows = range(instr.row0, instr.row0 + instr.rows)
        patches = np.empty((len(rows), ow, k), dtype=np.int64)
        kk = instr.kernel
        for r_i, r in enumerate(rows):
            for q in range(ow):
                y, x = r * instr.stride, q * instr.stride
                patches[r_i, q] = padded[0, y:y + kk, x:x + kk, :].ravel()
        a = patches.reshape(-1, k)
        words = self.weight[instr.w_base:instr.w_base + cfg.b_words(k, oc)].astype(np.int64)
        tiles = words.reshape(-1, k, cfg.cols)                  # (N-tiles, K, cols)
        b = tiles.transpose(1, 0, 2).reshape(k, -1)[:, :oc]
        acc = wrap_int32(a @ b)
        q = self.qparam[instr.q_base:instr.q_base + oc]
        out = requantize(acc, q[:, 0], q[:, 1], q[:, 2], relu=bool(instr.relu))
        start = instr.out_base + instr.row0 * ow * oc
        self.act[start:start + out.size] = out.ravel()
        timing = gemm_cycles(cfg, len(rows) * ow, k, oc)
        self._macs, self._compute = timing.macs, timing.cycles
        return INSTRUCTION_WORDS + CONV_OVERHEAD + timing.cycles

    def _fc(self, instr):
        sp = self.config.sparse
        n = sp.n_pes
        capacity = self.spmat_v.shape[1]
        if instr.resident:
            transfers = 0
        else:
            # The ACT commands write whole words of every PE: zeros past the columns.
            sent = min(_ceil_div(instr.cols, n * sp.act_span) * n * sp.act_span, sp.max_acts)
            self.sparse_src[:sent] = 0
            self.sparse_src[:instr.cols] = self.act[instr.in_base:instr.in_base + instr.cols]
            transfers = fc_transfer_cycles(self.config, instr.cols) + 1
        x = self.sparse_src[:instr.cols].astype(np.int64)
        entries = np.zeros((n, instr.cols), dtype=np.int64)
        out = np.zeros(instr.rows, dtype=np.int8)
        book = slice(instr.codebook * sp.codebook_size, (instr.codebook + 1) * sp.codebook_size)
        codebook, known = self.codebook[book], self.codebook_known[book]
        for k in range(n):
            local_rows = _ceil_div(instr.rows - k, n) if instr.rows > k else 0
            acc = np.zeros(local_rows, dtype=np.int64)
            ptr = self.pointer[k, instr.ptr_base:instr.ptr_base + instr.cols + 1]
            for j in range(instr.cols):
                start, end = int(ptr[j]), int(ptr[j + 1])
                if end < start or end > capacity:
                    if x[j]:
                        self.sparse_errors |= Error.SPARSE
                    continue
                entries[k, j] = end - start
                if not x[j]:
                    continue
                pos = -1
                for e in range(start, end):
                    pos += int(self.spmat_z[k, e]) + 1
                    if pos >= local_rows:
                        self.sparse_errors |= Error.SPARSE
                        break
                    v = int(self.spmat_v[k, e])
                    if v and not known[v]:
                        self.sparse_errors |= Error.SPARSE
                        continue
                    acc[pos] += int(codebook[v]) * int(x[j])
            if local_rows:
                p = self.sparam[k, instr.param_base:instr.param_base + local_rows]
                out[k::n] = requantize(wrap_int32(acc), p[:, 0], p[:, 1], p[:, 2],
                                       relu=bool(instr.relu))
        self.act[instr.out_base:instr.out_base + instr.rows] = out
        self.sparse_dst[:instr.rows] = out
        self.sparse_src, self.sparse_dst = self.sparse_dst, self.sparse_src
        timing = layer_cycles(entries, x != 0, fifo_depth=sp.fifo_depth, rows=instr.rows,
                              emit=True)
        self._macs, self._compute = timing.entries, timing.total
        return INSTRUCTION_WORDS + FC_OVERHEAD - 1 + transfers + timing.total

    def _pool(self, instr):
        oh, ow = _pool_geometry(instr)
        h, w, c, kk, s = instr.h, instr.w, instr.c, instr.kernel, instr.stride
        image = self.act[instr.in_base:instr.in_base + h * w * c].reshape(h, w, c)
        out = np.empty((oh, ow, c), dtype=np.int8)
        for r in range(oh):
            for q in range(ow):
                out[r, q] = image[r * s:r * s + kk, q * s:q * s + kk].max(axis=(0, 1))
        self.act[instr.out_base:instr.out_base + out.size] = out.ravel()
        self._compute = oh * ow * c * kk * kk
        return INSTRUCTION_WORDS + self._compute + POOL_OVERHEAD

    def _read(self, instr):
        values = self.act[instr.addr:instr.addr + instr.count].view(np.uint8).tolist()
        values += [0] * (-len(values) % 4)
        for i in range(0, len(values), 4):
            word = int.from_bytes(bytes(values[i:i + 4]), "little")
            self.outputs.append((OutKind.DATA, word))
        return INSTRUCTION_WORDS + READ_OVERHEAD + _ceil_div(instr.count, 4)


def fc_transfer_cycles(config, cols):
    """Cycles an FC of ``cols`` inputs spends sending its activations to the sparse engine."""
    sp = config.sparse
    _, beats = config.act_beats
    return _ceil_div(cols, sp.n_pes * sp.act_span) * sp.lane_groups * beats


def _check_cycles(instr):
    """Cycles the processor waits for the header check before it dispatches ``instr``."""
    op = instr.opcode if isinstance(instr, Raw) else instr.op
    return CHECK_CYCLES if op in (Op.CONV, Op.POOL) else 0


def _is_load(instr):
    return not isinstance(instr, Raw) and instr.op == Op.LOAD


def _payload(instr, bits):
    return pack_payload(instr.payload, bits)


def _qparam(word):
    bias = _signed(word, BIAS_BITS)
    multiplier = (word >> BIAS_BITS) & ((1 << MULTIPLIER_BITS) - 1)
    shift = word >> (BIAS_BITS + MULTIPLIER_BITS)
    return bias, multiplier, shift


@dataclass(frozen=True)
class ProgramRun:
    """What running a compiled program on inputs produced.

    Attributes
    ----------
    logits : numpy.ndarray of int8, (n, classes)
    setup_cycles : int
        Cycles of the setup instructions.
    cycles : list of int
        Cycles of each inference: its instructions up to its BARRIER, what its STATS reports.
    instruction_cycles : list of list of int
        Per inference, the cycles of each instruction before STATS (what STATS logs).
    errors : int
        The error bits over the whole run.
    retired : list of list of Retired
        Per inference, every instruction it ran (STATS last): cycles and MACs.
    """

    logits: np.ndarray
    setup_cycles: int
    cycles: list
    instruction_cycles: list
    errors: int
    retired: list = field(default_factory=list)


def run_program(program, x_q):
    """Run ``program`` (from :func:`~tessera.golden.compiler.compile_model`) on a batch.

    Every inference ends with STATS: its reported cycles and log are returned per inference.
    """
    x = np.asarray(x_q)
    ex = Executor(program.config)
    ex.run(program.setup)
    setup_stats = [w for kind, w in ex.outputs if kind == OutKind.STATS]
    errors = setup_stats[1]
    logits, cycles, logs, retired = [], [], [], []
    for n, sample in enumerate(x):
        start = len(ex.outputs)
        retired.append(ex.run(program.inference(sample, tag=n & 0xFFFF)))
        words = ex.outputs[start:]
        data = [w for kind, w in words if kind == OutKind.DATA]
        stats = [w for kind, w in words if kind == OutKind.STATS]
        raw = b"".join(w.to_bytes(4, "little") for w in data)
        logits.append(np.frombuffer(raw, dtype=np.int8)[:program.output_size])
        cycles.append(stats[0])
        errors |= stats[1]
        logs.append(stats[3:])
    return ProgramRun(np.array(logits, dtype=np.int8).reshape(len(x), -1),
                      setup_stats[0], cycles, logs, errors, retired)
