"""The activation read/write unit: a PE's source and destination buffers, swapped per layer."""

from amaranth import *
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import ACT_WIDTH

__all__ = ["ActRW"]


class ActRW(wiring.Component):
    """Two int8 activation buffers of ``act_depth`` entries: a source and a destination.

    A layer reads its input activations from the *source* buffer (the non-zero detector) and
    write-back puts its outputs into the *destination* buffer; ``swap`` exchanges the two, so
    that the next layer starts from the outputs of this one without a trip to the host (EIE's
    act R/W unit). Both buffers live in one memory, the destination at offset ``act_depth``
    from the source or the other way round. Reset makes the first buffer the source.

    Parameters
    ----------
    config : SparseConfig

    Members
    -------
    rd_en, rd_addr : In
        Read source activation ``rd_addr``.
    rd_data : Out(signed(8))
        The activation read by the last ``rd_en``, from the next cycle on, held until the next.
    ld_en, ld_addr, ld_data : In
        Host load: write ``ld_data`` into the source buffer.
    wr_en, wr_addr, wr_data : In
        Write-back: write ``wr_data`` into the destination buffer (wins over ``ld_en``; the two
        are never used together).
    swap : In(1)
        Exchange source and destination at the next clock edge.
    """

    def __init__(self, config):
        self.config = config
        addr = ceil_log2(config.act_depth) or 1
        super().__init__({
            "rd_en": In(1), "rd_addr": In(addr), "rd_data": Out(signed(ACT_WIDTH)),
            "ld_en": In(1), "ld_addr": In(addr), "ld_data": In(signed(ACT_WIDTH)),
            "wr_en": In(1), "wr_addr": In(addr), "wr_data": In(signed(ACT_WIDTH)),
            "swap": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.config.act_depth
        m.submodules.buffers = buffers = memory.Memory(
            shape=signed(ACT_WIDTH), depth=2 * depth, init=[])
        rd = buffers.read_port()
        wr = buffers.write_port()
        src = Signal()  # 0: the source is the lower half
        with m.If(self.swap):
            m.d.sync += src.eq(~src)
        m.d.comb += [
            rd.addr.eq(Mux(src, self.rd_addr + depth, self.rd_addr)),
            rd.en.eq(self.rd_en),
            self.rd_data.eq(rd.data),
        ]
        # Multiplexers as expressions, not comb If blocks: Yosys emits continuous assignments,
        # which Icarus evaluates at time 0 (an `always @*` whose inputs never change is never run
        # there, and would write X into the buffer).
        m.d.comb += [
            wr.addr.eq(Mux(self.wr_en, Mux(src, self.wr_addr, self.wr_addr + depth),
                           Mux(src, self.ld_addr + depth, self.ld_addr))),
            wr.data.eq(Mux(self.wr_en, self.wr_data, self.ld_data)),
            wr.en.eq(self.wr_en | self.ld_en),
        ]
        return m
