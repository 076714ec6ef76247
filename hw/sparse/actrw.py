"""The activation read/write unit: a PE's source and destination buffers, swapped per layer."""

from amaranth import *
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import ACT_WIDTH

__all__ = ["ActRW"]


class ActRW(wiring.Component):
    """Two int8 activation buffers of ``act_depth`` entries: a source and a destination.

    A layer reads its input activations from the *source* buffer (the non-zero detector) and
    write-back puts its outputs into the *destination* buffer; ``swap`` exchanges the two, so
    that the next layer starts from the outputs of this one without a trip to the host (EIE's
    act R/W unit). Both buffers live in one memory of words of ``S = act_span`` activations
    (local address ``a`` is lane ``a % S`` of word ``a // S``), the destination at offset
    ``act_words`` words from the source or the other way round, so that a host load writes
    ``S`` activations at once (an ACT command uses all its lanes with fewer than eight PEs).
    Reset makes the first buffer the source.

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
        Host load: write the ``S`` activations of ``ld_data`` (``ArrayLayout(signed(8), S)``)
        into source local addresses ``S * ld_addr .. S * ld_addr + S - 1``.
    wr_en, wr_addr, wr_data : In
        Write-back: write ``wr_data`` into the destination buffer (wins over ``ld_en``; the two
        are never used together).
    swap : In(1)
        Exchange source and destination at the next clock edge.
    """

    def __init__(self, config):
        self.config = config
        addr = ceil_log2(config.act_depth) or 1
        words = ceil_log2(config.act_words) or 1
        super().__init__({
            "rd_en": In(1), "rd_addr": In(addr), "rd_data": Out(signed(ACT_WIDTH)),
            "ld_en": In(1), "ld_addr": In(words),
            "ld_data": In(data.ArrayLayout(signed(ACT_WIDTH), config.act_span)),
            "wr_en": In(1), "wr_addr": In(addr), "wr_data": In(signed(ACT_WIDTH)),
            "swap": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        span, words = cfg.act_span, cfg.act_words
        lane_bits = ceil_log2(span)
        m.submodules.buffers = buffers = memory.Memory(
            shape=unsigned(ACT_WIDTH * span), depth=2 * words, init=[])
        rd = buffers.read_port()
        wr = buffers.write_port(granularity=ACT_WIDTH)
        src = Signal()  # 0: the source is the lower half
        with m.If(self.swap):
            m.d.sync += src.eq(~src)

        def word(addr):
            return addr[lane_bits:] if lane_bits else addr

        def lane(addr):
            return addr[:lane_bits] if lane_bits else C(0, 1)

        # The lane of the word read, registered with it (the block RAM's output register).
        rd_lane = Signal(max(1, lane_bits))
        with m.If(self.rd_en):
            m.d.sync += rd_lane.eq(lane(self.rd_addr))
        m.d.comb += [
            rd.addr.eq(Mux(src, word(self.rd_addr) + words, word(self.rd_addr))),
            rd.en.eq(self.rd_en),
            self.rd_data.eq(rd.data.word_select(rd_lane, ACT_WIDTH) if lane_bits
                            else rd.data),
        ]
        # Multiplexers as expressions, not comb If blocks: Yosys emits continuous assignments,
        # which Icarus evaluates at time 0 (an `always @*` whose inputs never change is never run
        # there, and would write X into the buffer).
        wr_word = word(self.wr_addr)
        one_lane = Const(1, span) << lane(self.wr_addr) if lane_bits else Const(1, 1)
        m.d.comb += [
            wr.addr.eq(Mux(self.wr_en, Mux(src, wr_word, wr_word + words),
                           Mux(src, self.ld_addr + words, self.ld_addr))),
            wr.data.eq(Mux(self.wr_en, Cat([self.wr_data] * span), self.ld_data.as_value())),
            wr.en.eq(Mux(self.wr_en, one_lane, Mux(self.ld_en, (1 << span) - 1, 0))),
        ]
        return m
