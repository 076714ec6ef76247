"""The activation memory: int8 words in banks, a few bytes written and many read a cycle."""

from amaranth import *
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.errors import check_int
from tessera.golden.isa import FIELD_BITS, Op

__all__ = ["ADDR_WIDTH", "WRITE_LANES", "ActivationMemory"]

#: Width of an activation-memory address (the instructions' base fields).
ADDR_WIDTH = FIELD_BITS[Op.CONV]["in_base"]
#: Bytes a LOAD's payload word writes in a cycle, and a READ's output word holds.
WRITE_LANES = 4


class ActivationMemory(wiring.Component):
    """``depth`` int8 activations, interleaved over ``banks`` banks by address.

    ``banks`` is the power of two at or above ``write_lanes``. Address ``x`` lives in bank
    ``x % banks`` at row ``x // banks``, so any ``write_lanes`` consecutive addresses (a LOAD's
    payload word of :data:`WRITE_LANES` bytes, a word of the systolic engine's results: C
    consecutive output channels in NHWC) are written in one cycle, one per bank. Every bank has
    one read port per read lane, so each of the ``lanes`` read lanes reads any address each
    cycle (the im2col gather of the systolic ``a`` stream, eight activations of a sparse ACT
    command, a READ's four bytes). Storage is replicated per read lane: the price of a
    conflict-free gather.

    Parameters
    ----------
    depth : int
        Activations, 16..65536.
    lanes : int
        Read lanes, 1..64.
    write_lanes : int
        Bytes written a cycle, 1..64 (default :data:`WRITE_LANES`).

    Members
    -------
    w_en : In(1)
        Write this cycle: lane ``i`` of ``w_data`` to ``w_addr + i`` where ``w_mask[i]``.
    w_addr : In(16)
    w_data : In(ArrayLayout(signed(8), write_lanes))
    w_mask : In(write_lanes)
    r_en : In(1)
        Read every lane's ``r_addr`` at this edge; ``r_data`` shows the values after it (one
        cycle of latency) and holds them while ``r_en`` is low. A write and a read of one
        address in the same cycle read the old value.
    r_addr : In(ArrayLayout(unsigned(16), lanes))
    r_data : Out(ArrayLayout(signed(8), lanes))

    Addresses past ``depth`` are not checked here (the command processor refuses them): a
    write there lands in the banks' spare rows or is dropped, a read returns garbage.

    Raises
    ------
    TesseraError, TesseraTypeError
        If a parameter is out of range or not an integer.
    """

    def __init__(self, *, depth, lanes, write_lanes=WRITE_LANES):
        self.depth = check_int(depth, "depth", 16, 2**ADDR_WIDTH)
        self.lanes = check_int(lanes, "lanes", 1, 64)
        self.write_lanes = check_int(write_lanes, "write_lanes", 1, 64)
        self.banks = 1 << ceil_log2(self.write_lanes)
        super().__init__({
            "w_en": In(1),
            "w_addr": In(ADDR_WIDTH),
            "w_data": In(data.ArrayLayout(signed(8), self.write_lanes)),
            "w_mask": In(self.write_lanes),
            "r_en": In(1),
            "r_addr": In(data.ArrayLayout(unsigned(ADDR_WIDTH), self.lanes)),
            "r_data": Out(data.ArrayLayout(signed(8), self.lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        banks, bits = self.banks, ceil_log2(self.banks)
        rows = -(-self.depth // banks)
        # Lanes past write_lanes (banks is a power of two) write nothing.
        w_data = Cat(self.w_data.as_value(), C(0, 8 * (banks - self.write_lanes)))
        w_mask = Cat(self.w_mask, C(0, banks - self.write_lanes))
        ports = []
        for b in range(banks):
            mem = memory.Memory(shape=signed(8), depth=rows, init=[])
            m.submodules[f"bank{b}"] = mem
            wp = mem.write_port()
            # The lane that lands in this bank: (b - addr) % banks, at row (addr + lane) // banks.
            lane = Signal(range(banks), name=f"w_lane{b}")
            target = Signal(ADDR_WIDTH + 1, name=f"w_target{b}")
            if banks > 1:
                m.d.comb += lane.eq((b - self.w_addr[:bits]) % banks)
            m.d.comb += [
                target.eq(self.w_addr + lane),
                wp.addr.eq(target[bits:]),
                wp.data.eq(w_data.word_select(lane, 8)),
                wp.en.eq(self.w_en & w_mask.bit_select(lane, 1) & (target < 2**ADDR_WIDTH)),
            ]
            bank_ports = []
            for i in range(self.lanes):
                rp = mem.read_port()
                m.d.comb += [rp.addr.eq(self.r_addr[i][bits:]), rp.en.eq(self.r_en)]
                bank_ports.append(rp)
            ports.append(bank_ports)
        for i in range(self.lanes):
            if banks == 1:
                m.d.comb += self.r_data[i].eq(ports[0][i].data)
                continue
            which = Signal(range(banks), name=f"r_bank{i}")
            with m.If(self.r_en):
                m.d.sync += which.eq(self.r_addr[i][:bits])
            with m.Switch(which):
                for b in range(banks):
                    with m.Case(b):
                        m.d.comb += self.r_data[i].eq(ports[b][i].data)
        return m
