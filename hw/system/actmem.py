"""The activation memory: int8 words in four banks, a few bytes written and many read a cycle."""

from amaranth import *
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int
from tessera.golden.isa import FIELD_BITS, Op

__all__ = ["ADDR_WIDTH", "WRITE_LANES", "ActivationMemory"]

#: Width of an activation-memory address (the instructions' base fields).
ADDR_WIDTH = FIELD_BITS[Op.CONV]["in_base"]
#: Bytes written a cycle: one per bank (a LOAD's payload word).
WRITE_LANES = 4


class ActivationMemory(wiring.Component):
    """``depth`` int8 activations, interleaved over :data:`WRITE_LANES` banks by address.

    Address ``x`` lives in bank ``x % 4`` at row ``x // 4``, so any four consecutive addresses
    (a LOAD's payload word, a READ's output word) are written in one cycle, one per bank. Every
    bank has one read port per read lane, so each of the ``lanes`` read lanes reads any address
    each cycle (the im2col gather of the systolic ``a`` stream, eight activations of a sparse
    ACT command, a READ's four bytes). Storage is replicated per read lane: the price of a
    conflict-free gather.

    Parameters
    ----------
    depth : int
        Activations, 16..65536.
    lanes : int
        Read lanes, 1..64.

    Members
    -------
    w_en : In(1)
        Write this cycle: lane ``i`` of ``w_data`` to ``w_addr + i`` where ``w_mask[i]``.
    w_addr : In(16)
    w_data : In(ArrayLayout(signed(8), 4))
    w_mask : In(4)
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

    def __init__(self, *, depth, lanes):
        self.depth = check_int(depth, "depth", 16, 2**ADDR_WIDTH)
        self.lanes = check_int(lanes, "lanes", 1, 64)
        super().__init__({
            "w_en": In(1),
            "w_addr": In(ADDR_WIDTH),
            "w_data": In(data.ArrayLayout(signed(8), WRITE_LANES)),
            "w_mask": In(WRITE_LANES),
            "r_en": In(1),
            "r_addr": In(data.ArrayLayout(unsigned(ADDR_WIDTH), self.lanes)),
            "r_data": Out(data.ArrayLayout(signed(8), self.lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        banks = WRITE_LANES
        rows = -(-self.depth // banks)
        ports = []
        for b in range(banks):
            mem = memory.Memory(shape=signed(8), depth=rows, init=[])
            m.submodules[f"bank{b}"] = mem
            wp = mem.write_port()
            # The lane that lands in this bank: (b - addr) % banks, at row (addr + lane) // 4.
            lane = Signal(range(banks), name=f"w_lane{b}")
            m.d.comb += lane.eq((b - self.w_addr[:2]) % banks)
            target = self.w_addr + lane
            m.d.comb += [
                wp.addr.eq(target[2:]),
                wp.data.eq(self.w_data.as_value().word_select(lane, 8)),
                wp.en.eq(self.w_en & self.w_mask.bit_select(lane, 1)
                         & (target < 2**ADDR_WIDTH)),
            ]
            bank_ports = []
            for i in range(self.lanes):
                rp = mem.read_port()
                m.d.comb += [rp.addr.eq(self.r_addr[i][2:]), rp.en.eq(self.r_en)]
                bank_ports.append(rp)
            ports.append(bank_ports)
        for i in range(self.lanes):
            which = Signal(range(banks), name=f"r_bank{i}")
            with m.If(self.r_en):
                m.d.sync += which.eq(self.r_addr[i][:2])
            with m.Switch(which):
                for b in range(banks):
                    with m.Case(b):
                        m.d.comb += self.r_data[i].eq(ports[b][i].data)
        return m
