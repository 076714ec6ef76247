"""The system's wire format: instruction headers and output words, as layouts.

Every instruction is a header of :data:`~tessera.golden.isa.INSTRUCTION_WORDS` 32-bit words on
the ``cmd`` stream, word 0 first, holding :data:`instruction_layout` from bit 0 (the rest of
the 128 bits is zero); a LOAD is followed by its payload words. The ``o`` stream carries
:data:`output_layout`. The field widths come from :data:`tessera.golden.isa.FIELD_BITS`, the
numbers the golden executor and compiler check against; the host encoder
(:mod:`tessera.sim.host.system`) packs through these same layouts.
"""

from amaranth import unsigned
from amaranth.lib import data, enum
from tessera.golden.isa import (
    CMD_WIDTH,
    FIELD_BITS,
    INSTRUCTION_WORDS,
    OPCODE_BITS,
    Op,
    OutKind,
    Space,
)

__all__ = ["HEADER_BITS", "Opcode", "OutputKind", "SpaceId", "args_layout",
           "instruction_layout", "output_layout"]

#: Bits of one instruction header.
HEADER_BITS = INSTRUCTION_WORDS * CMD_WIDTH


def _mirror(name, source, shape, doc):
    """Return an ``amaranth.lib.enum.Enum`` of ``shape`` with the members of ``source``."""
    namespace = enum.EnumType.__prepare__(name, (enum.Enum,), shape=shape)
    for member in source:
        namespace[member.name] = member.value
    namespace["__doc__"] = doc
    namespace["__module__"] = __name__
    namespace["__qualname__"] = name
    return enum.EnumType(name, (enum.Enum,), namespace, shape=shape)


#: Opcodes (the values of :class:`tessera.golden.isa.Op`).
Opcode = _mirror("Opcode", Op, OPCODE_BITS, "Opcodes (the values of golden.isa.Op).")
#: The memories a LOAD writes (the values of :class:`tessera.golden.isa.Space`).
SpaceId = _mirror("SpaceId", Space, FIELD_BITS[Op.LOAD]["space"],
                  "LOAD spaces (the values of golden.isa.Space).")
#: What an ``o`` word carries (the values of :class:`tessera.golden.isa.OutKind`).
OutputKind = _mirror("OutputKind", OutKind, 2, "Output kinds (the values of golden.isa.OutKind).")


def args_layout(op):
    """Return the struct layout of the arguments of opcode ``op`` (fields from bit 0)."""
    op = Op(op)
    fields = {}
    for name, bits in FIELD_BITS[op].items():
        fields[name] = SpaceId if (op == Op.LOAD and name == "space") else unsigned(bits)
    return data.StructLayout(fields)


#: One instruction header: the opcode, then the arguments of that opcode.
instruction_layout = data.StructLayout({
    "opcode": Opcode,
    "args": data.UnionLayout({op.name.lower(): args_layout(op) for op in Op if FIELD_BITS[op]}),
})

#: One word of the ``o`` stream.
output_layout = data.StructLayout({
    "data": unsigned(CMD_WIDTH),
    "kind": OutputKind,
})
