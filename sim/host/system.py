"""Pack system instructions into ``cmd`` words and unpack ``o`` words, through the layouts.

The same words go over every transport (co-simulation now, a serial port later).
"""

import numpy as np
from tessera.golden.errors import TesseraError
from tessera.golden.isa import (
    CMD_WIDTH,
    FIELD_BITS,
    INSTRUCTION_WORDS,
    Op,
    OutKind,
    Raw,
    Space,
    pack_payload,
)
from tessera.hw.system.protocol import Opcode, instruction_layout, output_layout

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
    opcode = bits & 0xF
    if opcode not in {o.value for o in Op}:
        return opcode, {}
    op = Op(opcode)
    view = instruction_layout.from_bits(bits & ((1 << instruction_layout.size) - 1))
    args = {}
    for name in FIELD_BITS[op]:
        value = getattr(getattr(view.args, op.name.lower()), name)
        args[name] = value.value if hasattr(value, "value") else int(value)
    return opcode, args


def decode_output(values):
    """Return ``o`` payloads (ints, ``output_layout`` from bit 0) as (OutKind, data) pairs."""
    out = []
    for value in values:
        view = output_layout.from_bits(int(value))
        out.append((OutKind(view.kind.value), int(view.data)))
    return out
