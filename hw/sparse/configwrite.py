"""The configuration write port of a PE unit: ``w_en``, ``w_addr``, ``w_data``, one word a cycle.

The PE decodes a configuration command (:mod:`.protocol`) into a write of one word of one of
its memories: the matrix memory (:mod:`.spmat`), the column pointers (:mod:`.pointer`) and the
requantization parameters (:mod:`.writeback`) each take it through the same three members.
"""

from amaranth.lib import memory
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

__all__ = ["configured_memory", "write_members"]


def write_members(depth, shape):
    """Return the members of a write into ``depth`` words of ``shape``.

    ``w_en`` : In(1), write this cycle; ``w_addr`` : In(ceil_log2(depth) or 1 bits), the word;
    ``w_data`` : In(shape), its value.
    """
    return {"w_en": In(1), "w_addr": In(ceil_log2(depth) or 1), "w_data": In(shape)}


def configured_memory(m, name, unit, shape, depth):
    """Add to ``m`` a memory of ``depth`` words of ``shape`` written through ``unit``'s
    :func:`write_members`; return its (synchronous, non-transparent) read port."""
    m.submodules[name] = mem = memory.Memory(shape=shape, depth=depth, init=[])
    write = mem.write_port()
    m.d.comb += [write.addr.eq(unit.w_addr), write.data.eq(unit.w_data), write.en.eq(unit.w_en)]
    return mem.read_port()
