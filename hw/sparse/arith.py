"""The arithmetic unit: weight x activation into the accumulator register file, with forwarding."""

from amaranth import *
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import ACC_WIDTH, ACT_WIDTH

__all__ = ["ArithmeticUnit", "product_layout"]


def product_layout(config):
    """What the arithmetic unit takes each cycle: ``weight * value`` goes to local ``row`` when
    ``write`` is set (a real entry in range); otherwise the entry is dropped."""
    return data.StructLayout({
        "row": unsigned(config.row_width),
        "weight": signed(config.weight_width),
        "value": signed(ACT_WIDTH),
        "write": 1,
    })


class ArithmeticUnit(wiring.Component):
    """Accumulate ``weight * value`` into a register file of ``act_depth`` int32 accumulators.

    Three pipeline stages, one entry a cycle, never a stall (EIE's arithmetic pipeline):

    1. *multiply and read*: the product is registered (a DSP block with its output register);
       the accumulator of ``row`` is read (a synchronous block RAM read).
    2. *register*: the accumulator read is registered (a block RAM's output is slow).
    3. *add and write*: accumulator + product, written back to ``row``.

    An entry reads its accumulator two cycles before it writes it, so the entries one and two
    cycles ahead may not have written theirs yet. Two bypass registers hold what stage 3 wrote
    in the previous cycle and the one before; when either wrote this entry's row, its sum is
    used instead of the stale read, the more recent first (EIE's bypass for consecutive hits
    on the same accumulator). An entry three cycles behind reads after the write: nothing else
    can be stale, and no hit ever costs a stall.

    Accumulators wrap modulo ``2**32`` (two's complement), as int32 does.

    Between layers every accumulator is 0: write-back reads each one and clears it in the same
    cycle, and after reset the unit sweeps the file to 0 (``act_depth`` cycles) before it is
    ``ready``.

    Parameters
    ----------
    config : SparseConfig

    Members
    -------
    i : In(stream.Signature(product_layout(config), always_ready=True))
        The entry of this cycle.
    wb_en, wb_addr : In
        Write-back: read accumulator ``wb_addr`` and clear it. Only when the pipeline is idle.
    wb_data : Out(signed(32))
        The accumulator read by the last ``wb_en``, from the next cycle on, held until the next.
    ready : Out(1)
        The post-reset sweep is over.
    idle : Out(1)
        No entry is in stages 2 or 3.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "i": In(stream.Signature(product_layout(config), always_ready=True)),
            "wb_en": In(1),
            "wb_addr": In(ceil_log2(config.act_depth) or 1),
            "wb_data": Out(signed(ACC_WIDTH)),
            "ready": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.acc = acc = memory.Memory(
            shape=signed(ACC_WIDTH), depth=cfg.act_depth, init=[])
        rd = acc.read_port()
        wr = acc.write_port()
        product_shape = signed(cfg.weight_width + ACT_WIDTH)

        # Stage 2 registers (the product of stage 1; the read arrives at the port).
        read_valid, read_write = Signal(), Signal()
        read_row = Signal(cfg.row_width)
        read_product = Signal(product_shape)
        m.d.sync += [
            read_valid.eq(self.i.valid),
            read_write.eq(self.i.valid & self.i.payload.write),
            read_row.eq(self.i.payload.row),
            read_product.eq(self.i.payload.weight * self.i.payload.value),
        ]
        # Stage 3 registers.
        valid, write = Signal(), Signal()
        row = Signal(cfg.row_width)
        product = Signal(product_shape)
        stored = Signal(signed(ACC_WIDTH))  # the accumulator as read
        m.d.sync += [
            valid.eq(read_valid),
            write.eq(read_write),
            row.eq(read_row),
            product.eq(read_product),
            stored.eq(rd.data),
        ]

        # The bypass registers: what stage 3 wrote one and two cycles ago.
        fwd1_valid, fwd2_valid = Signal(), Signal()
        fwd1_row, fwd2_row = Signal(cfg.row_width), Signal(cfg.row_width)
        fwd1_sum, fwd2_sum = Signal(signed(ACC_WIDTH)), Signal(signed(ACC_WIDTH))
        old = Signal(signed(ACC_WIDTH))
        total = Signal(signed(ACC_WIDTH))
        m.d.comb += [
            old.eq(Mux(fwd1_valid & (fwd1_row == row), fwd1_sum,
                       Mux(fwd2_valid & (fwd2_row == row), fwd2_sum, stored))),
            total.eq(old + product),
        ]
        m.d.sync += [
            fwd1_valid.eq(write), fwd1_row.eq(row), fwd1_sum.eq(total),
            fwd2_valid.eq(fwd1_valid), fwd2_row.eq(fwd1_row), fwd2_sum.eq(fwd1_sum),
        ]

        # The post-reset sweep.
        clearing = Signal(init=1)
        sweep = Signal(range(cfg.act_depth))
        with m.If(clearing):
            m.d.sync += sweep.eq(sweep + 1)
            with m.If(sweep == cfg.act_depth - 1):
                m.d.sync += clearing.eq(0)

        m.d.comb += [
            rd.addr.eq(Mux(self.wb_en, self.wb_addr, self.i.payload.row)),
            rd.en.eq(self.wb_en | self.i.valid),
            self.wb_data.eq(rd.data),
            self.ready.eq(~clearing),
            self.idle.eq(~read_valid & ~valid),
        ]
        # Expressions rather than comb If blocks (see ActRW).
        m.d.comb += [
            wr.addr.eq(Mux(clearing, sweep, Mux(self.wb_en, self.wb_addr, row))),
            wr.data.eq(Mux(clearing | self.wb_en, 0, total)),
            wr.en.eq(clearing | self.wb_en | write),
        ]
        return m
