"""The tessera system's instruction set: opcodes, memory spaces, field widths, instructions.

This is the golden half of the contract between the host and the system top (``hw/system``).
The wire format is defined once, as ``amaranth.lib.data`` layouts, in
:mod:`tessera.hw.system.protocol`, which builds them from the numbers here; the host encoder
(:mod:`tessera.sim.host.system`) packs these instruction objects through those layouts, and the
golden executor (:mod:`tessera.golden.executor`) runs the same objects.

Every instruction is :data:`INSTRUCTION_WORDS` 32-bit words on the ``cmd`` stream (the
*header*); a LOAD is followed by its payload words. See ``docs/system.md`` for the table.
"""

import enum
from dataclasses import dataclass, field, fields

import numpy as np

from .errors import TesseraError, check_int

__all__ = [
    "CMD_WIDTH",
    "FIELD_BITS",
    "INSTRUCTION_WORDS",
    "OPCODE_BITS",
    "PER_PE",
    "Barrier",
    "Conv",
    "Error",
    "Fc",
    "Load",
    "Nop",
    "Op",
    "OutKind",
    "Pool",
    "Raw",
    "Read",
    "Space",
    "Stats",
    "int8_words",
    "pack_payload",
    "payload_words",
    "unpack_payload",
]

#: Width of one word of the ``cmd`` stream and of the data of one ``o`` word.
CMD_WIDTH = 32
#: Words of one instruction header (opcode and arguments, 128 bits).
INSTRUCTION_WORDS = 4
#: Width of the opcode field, at bit 0 of the header.
OPCODE_BITS = 4


class Op(enum.IntEnum):
    """Opcodes (the header's low :data:`OPCODE_BITS` bits)."""

    NOP = 0
    LOAD = 1
    CONV = 2
    FC = 3
    POOL = 4
    READ = 5
    STATS = 6
    BARRIER = 7


class Space(enum.IntEnum):
    """The memories a LOAD writes into, each with its own word width (see ``word_bits``)."""

    #: Activation memory: one int8 per address (input image, feature maps, logits).
    ACT = 0
    #: Dense weight memory: one systolic B word (``cols`` int8 lanes) per address.
    WEIGHT = 1
    #: Requantization parameters of systolic layers: one output channel per address.
    QPARAM = 2
    #: The sparse engine's codebook: one signed ``weight_width``-bit value per address.
    CODEBOOK = 3
    #: A sparse PE's column pointers: one pair of ``ptr_bits`` pointers per address.
    POINTER = 4
    #: A sparse PE's matrix memory: ``entries_per_word`` entries per address.
    SPMAT = 5
    #: A sparse PE's requantization parameters: one local output row per address.
    SPARAM = 6


#: Spaces whose LOAD names a sparse PE.
PER_PE = (Space.POINTER, Space.SPMAT, Space.SPARAM)


class Error(enum.IntFlag):
    """Sticky error bits (the ``error`` port and the STATS error word).

    Every bad instruction is skipped (a LOAD still consumes its payload) and flagged; the system
    keeps accepting commands. Reset and STATS clear them.
    """

    #: An opcode that does not exist, or a LOAD to a space that does not exist.
    OPCODE = 1
    #: An address range that runs past its memory, or a PE that does not exist.
    ADDRESS = 2
    #: A layer geometry the engines cannot run (zero sizes, a kernel larger than the padded
    #: input, a GEMM larger than the systolic buffers, output rows past the feature map).
    GEOMETRY = 4
    #: The sparse engine skipped a column or an entry of malformed sparse memory.
    SPARSE = 8


class OutKind(enum.IntEnum):
    """What a word on the ``o`` stream carries."""

    DATA = 0
    STATS = 1
    BARRIER = 2


#: Width of every argument field, by instruction: the one place the numbers live. The layouts
#: in :mod:`tessera.hw.system.protocol` are built from these, in this order.
FIELD_BITS = {
    Op.LOAD: {"space": 3, "pe": 6, "addr": 16, "count": 16},
    Op.CONV: {"in_base": 16, "out_base": 16, "w_base": 16, "q_base": 10, "h": 8, "w": 8,
              "c": 9, "oc": 9, "kernel": 4, "stride": 3, "padding": 3, "relu": 1,
              "row0": 8, "rows": 8},
    Op.FC: {"in_base": 16, "out_base": 16, "cols": 16, "rows": 16, "ptr_base": 16,
            "param_base": 16, "relu": 1},
    Op.POOL: {"in_base": 16, "out_base": 16, "h": 8, "w": 8, "c": 9, "kernel": 4, "stride": 3},
    Op.READ: {"addr": 16, "count": 16},
    Op.STATS: {},
    Op.BARRIER: {"tag": 16},
    Op.NOP: {},
}


def _check_fields(instr):
    for f in fields(instr):
        if f.name == "payload":
            continue
        bits = FIELD_BITS[instr.op][f.name]
        value = getattr(instr, f.name)
        if isinstance(value, bool):
            value = int(value)
        check_int(value, f"{type(instr).__name__.lower()} {f.name}", 0, 2**bits - 1)
        object.__setattr__(instr, f.name, int(value))


@dataclass(frozen=True)
class _Instruction:
    def __post_init__(self):
        _check_fields(self)

    def args(self):
        """The argument fields as a dict (in :data:`FIELD_BITS` order)."""
        return {name: getattr(self, name) for name in FIELD_BITS[self.op]}


@dataclass(frozen=True)
class Load(_Instruction):
    """Write ``count`` words of ``space`` from ``addr`` (of PE ``pe`` for per-PE spaces).

    The payload is the ``count`` memory words packed from bit 0 upwards, contiguously, into
    :func:`payload_words` 32-bit words (zero-padded). ``payload`` holds the memory words
    (Python ints, unsigned, each below ``2**word_bits``).
    """

    space: int
    pe: int = 0
    addr: int = 0
    count: int = 0
    payload: tuple = field(default=(), compare=False)
    op = Op.LOAD

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "payload", tuple(int(w) for w in self.payload))
        if len(self.payload) != self.count:
            raise TesseraError(f"load count is {self.count} but the payload holds "
                               f"{len(self.payload)} words")


@dataclass(frozen=True)
class Conv(_Instruction):
    """A convolution (or, with a 1 x 1 image, an FC layer) on the systolic array.

    Output rows ``row0 .. row0 + rows - 1`` of the NHWC int8 feature map are computed from the
    ``h x w x c`` input at ``in_base`` (im2col on chip: ``kernel``, ``stride``, zero
    ``padding``), the weights at ``w_base`` (``pack_b`` words) and the requantization parameters
    at ``q_base``, and written to ``out_base`` (the whole map's base) in NHWC order.
    """

    in_base: int
    out_base: int
    w_base: int
    q_base: int
    h: int
    w: int
    c: int
    oc: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    relu: int = 0
    row0: int = 0
    rows: int = 1
    op = Op.CONV


@dataclass(frozen=True)
class Fc(_Instruction):
    """A compressed FC layer on the sparse array: ``rows`` outputs from ``cols`` inputs."""

    in_base: int
    out_base: int
    cols: int
    rows: int
    ptr_base: int
    param_base: int
    relu: int = 0
    op = Op.FC


@dataclass(frozen=True)
class Pool(_Instruction):
    """Max-pool ``kernel x kernel``, stride ``stride``, no padding, over an NHWC int8 map."""

    in_base: int
    out_base: int
    h: int
    w: int
    c: int
    kernel: int = 2
    stride: int = 2
    op = Op.POOL


@dataclass(frozen=True)
class Read(_Instruction):
    """Send ``count`` int8 values of activation memory from ``addr`` to ``o``, four a word."""

    addr: int
    count: int
    op = Op.READ


@dataclass(frozen=True)
class Stats(_Instruction):
    """Send the counters to ``o`` and clear them (see ``docs/system.md``)."""

    op = Op.STATS


@dataclass(frozen=True)
class Barrier(_Instruction):
    """Send one BARRIER word carrying ``tag`` to ``o``: the host knows what came before ended."""

    tag: int = 0
    op = Op.BARRIER


@dataclass(frozen=True)
class Nop(_Instruction):
    """Do nothing (an all-zero header)."""

    op = Op.NOP


@dataclass(frozen=True)
class Raw:
    """A header with arbitrary bits (tests of bad opcodes); ``bits`` below ``2**128``."""

    bits: int
    op = None


def payload_words(count, word_bits):
    """Return how many 32-bit payload words carry ``count`` memory words of ``word_bits``."""
    return -(-count * word_bits // CMD_WIDTH)


def pack_payload(words, word_bits):
    """Pack memory words (ints) from bit 0 up into 32-bit payload words (a list of ints)."""
    total = 0
    for i, w in enumerate(words):
        total |= (int(w) & ((1 << word_bits) - 1)) << (i * word_bits)
    n = payload_words(len(words), word_bits)
    return [(total >> (CMD_WIDTH * i)) & 0xFFFF_FFFF for i in range(n)]


def unpack_payload(payload, count, word_bits):
    """Inverse of :func:`pack_payload`: ``count`` memory words from 32-bit payload words."""
    total = 0
    for i, w in enumerate(payload):
        total |= int(w) << (CMD_WIDTH * i)
    mask = (1 << word_bits) - 1
    return [(total >> (word_bits * i)) & mask for i in range(count)]


def int8_words(values):
    """Return int8 values as unsigned 8-bit memory words (ACT and CODEBOOK payloads)."""
    return [int(v) & 0xFF for v in np.asarray(values, dtype=np.int64).ravel()]
