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
from dataclasses import dataclass, field, make_dataclass

import numpy as np

from .errors import TesseraError, check_int

__all__ = [
    "CMD_WIDTH",
    "FIELD_BITS",
    "INSTRUCTION_WORDS",
    "OPCODE_BITS",
    "PARAMETERS",
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
    #: The sparse engine's codebooks: one signed ``weight_width``-bit value per address, entry
    #: ``i`` of slot ``s`` at ``s * 2**index_bits + i`` (``codebooks`` slots).
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
    #: An address range that runs past its memory (a codebook slot past the configured count
    #: too), or a PE that does not exist.
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


#: Width of every argument field, by instruction, in the header's bit order (from bit
#: :data:`OPCODE_BITS` up): the one place the numbers live. The layouts in
#: :mod:`tessera.hw.system.protocol` are built from these, in this order. A CONV's and a POOL's
#: geometry comes first: the kernel window in word 0 and the sizes in word 1, so that the hardware
#: derives the layer's sizes while the later words arrive (``tessera.hw.system.check``).
FIELD_BITS = {
    Op.LOAD: {"space": 3, "pe": 6, "addr": 16, "count": 16},
    Op.CONV: {"h": 8, "w": 8, "kernel": 4, "stride": 3, "padding": 3, "c": 9, "oc": 9,
              "rows": 8, "row0": 8, "relu": 1, "in_base": 16, "out_base": 16, "w_base": 16,
              "q_base": 10},
    Op.FC: {"cols": 16, "rows": 16, "in_base": 16, "out_base": 16, "ptr_base": 16,
            "param_base": 16, "relu": 1, "codebook": 4, "resident": 1},
    Op.POOL: {"h": 8, "w": 8, "kernel": 4, "stride": 3, "c": 9, "in_base": 16, "out_base": 16},
    Op.READ: {"addr": 16, "count": 16},
    Op.STATS: {},
    Op.BARRIER: {"tag": 16},
    Op.NOP: {},
}

#: The order of each instruction's constructor parameters where it differs from the wire order
#: (addresses first, as a program reads).
PARAMETERS = {
    Op.CONV: ("in_base", "out_base", "w_base", "q_base", "h", "w", "c", "oc", "kernel", "stride",
              "padding", "relu", "row0", "rows"),
    Op.FC: ("in_base", "out_base", "cols", "rows", "ptr_base", "param_base", "relu", "codebook",
            "resident"),
    Op.POOL: ("in_base", "out_base", "h", "w", "c", "kernel", "stride"),
}


def _check_fields(instr):
    for name, bits in FIELD_BITS[instr.op].items():
        value = getattr(instr, name)
        if isinstance(value, bool):
            value = int(value)
        check_int(value, f"{type(instr).__name__.lower()} {name}", 0, 2**bits - 1)
        object.__setattr__(instr, name, int(value))


@dataclass(frozen=True)
class _Instruction:
    def __post_init__(self):
        _check_fields(self)

    def args(self):
        """The argument fields as a dict (in :data:`FIELD_BITS` order)."""
        return {name: getattr(self, name) for name in FIELD_BITS[self.op]}


def _instruction(op, doc, defaults=(), extra=(), post_init=None):
    """Make the frozen dataclass of opcode ``op``: one int field per :data:`FIELD_BITS` entry,
    in :data:`PARAMETERS` order, the last ones with ``defaults`` (a dict), then ``extra``
    fields."""
    defaults = dict(defaults)
    names = PARAMETERS.get(op, tuple(FIELD_BITS[op]))
    assert sorted(names) == sorted(FIELD_BITS[op]), op
    fields_ = [(name, int, field(default=defaults[name])) if name in defaults else (name, int)
               for name in names]
    namespace = {"op": op, "__doc__": doc, "__module__": __name__}
    if post_init is not None:
        namespace["__post_init__"] = post_init
    return make_dataclass(op.name.capitalize(), [*fields_, *extra], bases=(_Instruction,),
                          frozen=True, namespace=namespace)


def _load_post_init(self):
    _Instruction.__post_init__(self)
    object.__setattr__(self, "payload", tuple(int(w) for w in self.payload))
    if len(self.payload) != self.count:
        raise TesseraError(f"load count is {self.count} but the payload holds "
                           f"{len(self.payload)} words")


Load = _instruction(Op.LOAD, """Write ``count`` words of ``space`` from ``addr`` (of PE ``pe``
    for per-PE spaces).

    The payload is the ``count`` memory words packed from bit 0 upwards, contiguously, into
    :func:`payload_words` 32-bit words (zero-padded). ``payload`` holds the memory words
    (Python ints, unsigned, each below ``2**word_bits``).
    """, {"pe": 0, "addr": 0, "count": 0},
    [("payload", tuple, field(default=(), compare=False))], _load_post_init)

Conv = _instruction(Op.CONV, """A convolution (or, with a 1 x 1 image, an FC layer) on the
    systolic array.

    Output rows ``row0 .. row0 + rows - 1`` of the NHWC int8 feature map are computed from the
    ``h x w x c`` input at ``in_base`` (im2col on chip: ``kernel``, ``stride``, zero
    ``padding``), the weights at ``w_base`` (``pack_b`` words) and the requantization parameters
    at ``q_base``, and written to ``out_base`` (the whole map's base) in NHWC order.
    """, {"kernel": 1, "stride": 1, "padding": 0, "relu": 0, "row0": 0, "rows": 1})

Fc = _instruction(Op.FC, """A compressed FC layer on the sparse array: ``rows`` outputs from
    ``cols`` inputs, its weights decoded through codebook slot ``codebook`` (loaded by a LOAD
    CODEBOOK at ``addr = codebook * 2**index_bits``). Its input is the ``cols`` bytes at
    ``in_base``, sent to the sparse engine; or, with ``resident``, what the engine's source
    buffers hold: the outputs of the FC before it (the engine keeps them, EIE's act R/W), so
    nothing is sent (the compiler sets it for consecutive FC layers).""",
    {"relu": 0, "codebook": 0, "resident": 0})

Pool = _instruction(Op.POOL, """Max-pool ``kernel x kernel``, stride ``stride``, no padding, over
    an NHWC int8 map.""", {"kernel": 2, "stride": 2})

Read = _instruction(Op.READ, """Send ``count`` int8 values of activation memory from ``addr``
    to ``o``, four a word.""")

Stats = _instruction(Op.STATS, """Send the counters to ``o`` and clear them (see
    ``docs/system.md``).""")

Barrier = _instruction(Op.BARRIER, """Send one BARRIER word carrying ``tag`` to ``o``: the host
    knows what came before ended.""", {"tag": 0})

Nop = _instruction(Op.NOP, """Do nothing (an all-zero header).""")


@dataclass(frozen=True)
class Raw:
    """A header with arbitrary bits (tests of bad opcodes); ``bits`` below ``2**128``."""

    bits: int
    op = None

    @property
    def opcode(self):
        """The header's opcode field (its low :data:`OPCODE_BITS` bits), whether or not it
        names an :class:`Op`."""
        return self.bits & ((1 << OPCODE_BITS) - 1)


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
