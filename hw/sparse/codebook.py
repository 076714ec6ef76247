"""The codebook decoder: a codebook index to its shared weight, through a small table."""

from amaranth import *
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import CODEBOOK_BITS

__all__ = ["CodebookDecoder"]


class CodebookDecoder(wiring.Component):
    """Expand a codebook index into its signed weight (Deep Compression's weight sharing).

    The table holds ``codebooks`` codebooks (*slots*) of ``2**index_bits`` entries of
    ``weight_width`` bits, loaded at configuration time: entry ``i`` of slot ``s`` is table
    address ``s * 2**index_bits + i``, so each layer of a network keeps its own codebook and
    names it in its RUN. Entry 0 of every slot is the padding code and always reads as 0
    (golden/eie.py: ``codebook[0] == 0``); a write to entry 0 of a slot starts a new codebook in
    that slot instead: it forgets which of the slot's entries were loaded. Each entry remembers
    whether it was loaded since reset or the last write to its slot's entry 0; an index whose
    entry was not is *unknown* (a codebook smaller than the index width allows, and an index
    past it).

    Parameters
    ----------
    config : SparseConfig

    Members
    -------
    w_en, w_index, w_value : In
        Configuration write: table address ``w_index`` (``slot * 2**index_bits + entry``, below
        ``codebooks * 2**index_bits``: the array checks it) takes ``w_value``; a write to a
        slot's entry 0 marks every entry of that slot unknown (its value is not used).
    slot : In(CODEBOOK_BITS)
        The codebook the layer decodes through (held during the layer, below ``codebooks``).
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
            "w_index": In(max(1, ceil_log2(config.codebook_depth))),
            "w_value": In(signed(config.weight_width)),
            "slot": In(CODEBOOK_BITS),
            "index": In(config.index_bits),
            "value": Out(signed(config.weight_width)),
            "known": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        size, depth = cfg.codebook_size, cfg.codebook_depth
        m.submodules.table = table = memory.Memory(
            shape=signed(cfg.weight_width), depth=depth, init=[])
        wr = table.write_port()
        rd = table.read_port(domain="comb")
        loaded = Signal(depth)
        entry = self.w_index[:cfg.index_bits]
        write = self.w_en & (entry != 0)
        # The slot's bits above the table: a slot past ``codebooks`` never reaches here.
        slot_bits = ceil_log2(cfg.codebooks)
        address = Cat(self.index, self.slot[:slot_bits])
        m.d.comb += [
            wr.addr.eq(self.w_index), wr.data.eq(self.w_value), wr.en.eq(write),
            rd.addr.eq(address),
            self.value.eq(Mux(self.index == 0, 0, rd.data)),
            self.known.eq((self.index == 0) | loaded.bit_select(address, 1)),
        ]
        for s in range(cfg.codebooks):
            with m.If(self.w_en & (self.w_index == s * size)):
                m.d.sync += loaded[s * size:(s + 1) * size].eq(0)
            for n in range(1, size):
                with m.If(write & (self.w_index == s * size + n)):
                    m.d.sync += loaded[s * size + n].eq(1)
        return m
