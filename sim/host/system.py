"""Pack system instructions into ``cmd`` words and unpack ``o`` words, through the layouts.

The same words go over every transport (co-simulation now, a serial port later).
"""

import numpy as np
from tessera.golden.errors import TesseraError
from tessera.golden.executor import instruction_errors
from tessera.golden.isa import (
    CMD_WIDTH,
    INSTRUCTION_WORDS,
    Op,
    OutKind,
    Raw,
    Read,
    Space,
    pack_payload,
)
from tessera.hw.system.protocol import Opcode, args_layout, instruction_layout, output_layout

from .words import decode_fields

__all__ = ["decode_header", "decode_output", "encode", "encode_program", "header_bits"]

_MASK = (1 << CMD_WIDTH) - 1


def header_bits(instr):
    """Return the header of ``instr`` as one integer (``instruction_layout`` from bit 0)."""
    if isinstance(instr, Raw):
        return instr.bits
    args = {name: int(value) for name, value in instr.args().items()}
    if instr.op == Op.LOAD and instr.space not in {s.value for s in Space}:
        # An unknown space is still sent as its bits (the hardware flags it).
        fields = {"opcode": Opcode(instr.op.value), "args": {"load": {**args, "space": 0}}}
        base = instruction_layout.const(fields).as_bits()
        return base | instr.space << 4
    value = {"opcode": Opcode(instr.op.value)}
    if args:
        value["args"] = {instr.op.name.lower(): args}
    return instruction_layout.const(value).as_bits()


def encode(instr, config):
    """Return the ``cmd`` words of one instruction: the header, then any LOAD payload."""
    bits = header_bits(instr)
    words = [(bits >> (CMD_WIDTH * i)) & _MASK for i in range(INSTRUCTION_WORDS)]
    if not isinstance(instr, Raw) and instr.op == Op.LOAD:
        width = config.word_bits(instr.space) if instr.space in {s.value for s in Space} else 8
        words += pack_payload(instr.payload, width)
    return words


def encode_program(instructions, config):
    """Return the ``cmd`` words of a list of instructions as a uint32 array."""
    words = []
    for instr in instructions:
        words += encode(instr, config)
    return np.array(words, dtype=np.uint32)


def decode_header(words):
    """Return (opcode value, argument dict) of a header given as its 32-bit words."""
    if len(words) != INSTRUCTION_WORDS:
        raise TesseraError(f"a header is {INSTRUCTION_WORDS} words, not {len(words)}")
    bits = sum(int(w) << (CMD_WIDTH * i) for i, w in enumerate(words))
    opcode = decode_fields(instruction_layout, bits)["opcode"]
    if opcode not in {o.value for o in Op}:
        return opcode, {}
    op = Op(opcode)
    # Plain integers, not a view: a field may hold a value its enum lacks (a LOAD to a space
    # that does not exist).
    return opcode, decode_fields(args_layout(op), bits >> instruction_layout["args"].offset)


def decode_output(values):
    """Return ``o`` payloads (ints, ``output_layout`` from bit 0) as (OutKind, data) pairs."""
    out = []
    for value in values:
        view = output_layout.from_bits(int(value))
        out.append((OutKind(view.kind.value), int(view.data)))
    return out


# -- bytes: what a transport carries -------------------------------------------------------------

#: Bytes of one ``o`` word on a transport: ``output_layout`` (34 bits), little-endian.
OUTPUT_BYTES = -(-output_layout.size // 8)


def command_bytes(words):
    """Return ``cmd`` words as the bytes a transport carries: four a word, little-endian."""
    return np.asarray(words, dtype="<u4").tobytes()


def output_bytes(values):
    """Return ``o`` payloads (ints) as transport bytes (:data:`OUTPUT_BYTES` each, LE)."""
    return b"".join(int(v).to_bytes(OUTPUT_BYTES, "little") for v in values)


def parse_output_bytes(data):
    """Inverse of :func:`output_bytes`: (OutKind, data) pairs of whole words."""
    n = len(data) // OUTPUT_BYTES
    return decode_output(int.from_bytes(data[i * OUTPUT_BYTES:(i + 1) * OUTPUT_BYTES], "little")
                         for i in range(n))


def instructions(words, config):
    """Yield ``(start, end, opcode, args)`` for each whole instruction in ``cmd`` words: its
    header and, for a LOAD, its payload (its length from the space's word width; a space that
    does not exist drains as bytes), as the command processor walks them."""
    i = 0
    words = [int(w) for w in words]
    while i + INSTRUCTION_WORDS <= len(words):
        opcode, args = decode_header(words[i:i + INSTRUCTION_WORDS])
        end = i + INSTRUCTION_WORDS
        if opcode == Op.LOAD:
            space = args["space"]
            bits = config.word_bits(space) if space in {s.value for s in Space} else 8
            end += -(-args["count"] * bits // CMD_WIDTH)
        yield i, end, opcode, args
        i = end


def output_count(words, config):
    """Return how many ``o`` words the system sends for these ``cmd`` words (a whole program).

    READ sends ``ceil(count / 4)`` (none when it fails the check), BARRIER one, STATS three plus
    the instructions logged since the last (:func:`instructions` walks the headers).
    """
    count = retired = 0
    for _, _, opcode, args in instructions(words, config):
        if opcode == Op.READ and not instruction_errors(Read(**args), config):
            count += -(-args["count"] // 4)
        elif opcode == Op.BARRIER:
            count += 1
        if opcode == Op.STATS:
            count += 3 + min(retired, config.stats_depth)
            retired = 0
        else:
            retired += 1
    return count
