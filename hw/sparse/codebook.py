"""The codebook decoder: a codebook index to its shared weight, through a small table."""

from amaranth import *
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CodebookDecoder"]


class CodebookDecoder(wiring.Component):
    """Expand a codebook index into its signed weight (Deep Compression's weight sharing).

    The table has ``2**index_bits`` entries of ``weight_width`` bits, loaded at configuration
    time. Entry 0 is the padding code and always reads as 0 (golden/eie.py: ``codebook[0] ==
    0``); a write to entry 0 starts a new table instead: it forgets which entries were loaded.
    Each entry remembers whether it was loaded since reset or the last write to entry 0; an index
    whose entry was not is *unknown* (a codebook smaller than the index width allows, and an
    index past it).

    Parameters
    ----------
    config : SparseConfig

    Members
    -------
    w_en, w_index, w_value : In
        Configuration write: entry ``w_index`` takes ``w_value``; a write to entry 0 marks every
        entry unknown (its value is not used).
    index : In(index_bits)
        The index to decode.
    value : Out(signed(weight_width))
        Its weight, combinationally (an asynchronous read: distributed RAM on an FPGA); 0 for
        index 0.
    known : Out(1)
        Index 0, or an entry loaded since reset.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "w_en": In(1),
            "w_index": In(config.index_bits),
            "w_value": In(signed(config.weight_width)),
            "index": In(config.index_bits),
            "value": Out(signed(config.weight_width)),
            "known": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        size = 2**cfg.index_bits
        m.submodules.table = table = memory.Memory(
            shape=signed(cfg.weight_width), depth=size, init=[])
        wr = table.write_port()
        rd = table.read_port(domain="comb")
        loaded = Signal(size)
        write = self.w_en & (self.w_index != 0)
        m.d.comb += [
            wr.addr.eq(self.w_index), wr.data.eq(self.w_value), wr.en.eq(write),
            rd.addr.eq(self.index),
            self.value.eq(Mux(self.index == 0, 0, rd.data)),
            self.known.eq((self.index == 0) | loaded.bit_select(self.index, 1)),
        ]
        with m.If(self.w_en & (self.w_index == 0)):
            m.d.sync += loaded.eq(0)
        for n in range(1, size):
            with m.If(write & (self.w_index == n)):
                m.d.sync += loaded[n].eq(1)
        return m
