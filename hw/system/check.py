"""The command processor's header check: which error bit a header raises, before it runs."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.isa import PER_PE, Error, Space

from .protocol import Opcode, SpaceId, instruction_layout

__all__ = ["HeaderCheck"]


def _ceil_div(a, b):
    return -(-a // b)


class HeaderCheck(wiring.Component):
    """Classify an instruction header: 0 (it runs) or the one :class:`~tessera.golden.isa.Error`
    bit it raises, exactly as :func:`tessera.golden.executor.instruction_errors`.

    OPCODE: an opcode or a LOAD space that does not exist. GEOMETRY: zero sizes, a window larger
    than the (padded) input, a GEMM larger than the systolic buffers, output rows past the map,
    an FC larger than the sparse engine. ADDRESS: a range past its memory, a PE that does not
    exist, overlapping input and output. GEOMETRY wins over ADDRESS.

    Combinational (zero latency). The output sizes of CONV and POOL divide by the stride (1..7);
    the divisions are combinational here, to be pipelined or made sequential when timing asks.

    Parameters
    ----------
    config : tessera.golden.system_config.SystemConfig

    Members
    -------
    header : In(instruction_layout)
    errors : Out(4)
    """

    header: In(instruction_layout)
    errors: Out(4)

    def __init__(self, config):
        self._config = config
        super().__init__()

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        sys, sp = cfg.systolic, cfg.sparse
        h = self.header
        depth = cfg.act_depth
        geometry, address, opcode = Signal(), Signal(), Signal()

        def overlap(a0, a1, b0, b1):
            return (a0 < b1) & (b0 < a1)

        with m.Switch(h.opcode):
            with m.Case(Opcode.LOAD):
                a = h.args.load
                known = Signal()
                space_depth = Signal(32)
                per_pe = Signal()
                with m.Switch(a.space):
                    for space in Space:
                        with m.Case(SpaceId(space.value)):
                            m.d.comb += [known.eq(1), space_depth.eq(cfg.depth(space)),
                                         per_pe.eq(space in PER_PE)]
                m.d.comb += [
                    opcode.eq(~known),
                    address.eq((per_pe & (a.pe >= sp.n_pes)) | (a.addr + a.count > space_depth)),
                ]
            with m.Case(Opcode.CONV):
                a = h.args.conv
                bad = Cat(a.h == 0, a.w == 0, a.c == 0, a.oc == 0, a.kernel == 0,
                          a.stride == 0, a.rows == 0,
                          a.kernel > a.h + 2 * a.padding, a.kernel > a.w + 2 * a.padding).any()
                oh = (a.h + 2 * a.padding - a.kernel) // a.stride + 1
                ow = (a.w + 2 * a.padding - a.kernel) // a.stride + 1
                k = a.kernel * a.kernel * a.c
                too_big = Cat(k > sys.max_k, a.oc > sys.max_n, a.rows * ow > sys.max_m,
                              a.row0 + a.rows > oh).any()
                in_end = a.in_base + a.h * a.w * a.c
                out_end = a.out_base + oh * ow * a.oc
                b_words = ((a.oc + sys.cols - 1) // sys.cols) * k
                m.d.comb += [
                    geometry.eq(bad | too_big),
                    address.eq(Cat(in_end > depth, out_end > depth,
                                   a.w_base + b_words > cfg.weight_depth,
                                   a.q_base + a.oc > cfg.qparam_depth,
                                   overlap(a.in_base, in_end, a.out_base, out_end)).any()),
                ]
            with m.Case(Opcode.FC):
                a = h.args.fc
                side = sp.n_pes * sp.act_depth
                in_end, out_end = a.in_base + a.cols, a.out_base + a.rows
                m.d.comb += [
                    geometry.eq(Cat(a.cols == 0, a.rows == 0, a.cols > side,
                                    a.rows > side).any()),
                    address.eq(Cat(in_end > depth, out_end > depth,
                                   a.ptr_base + a.cols + 1 > sp.ptr_depth,
                                   a.param_base + (a.rows + sp.n_pes - 1) // sp.n_pes
                                   > sp.param_depth,
                                   overlap(a.in_base, in_end, a.out_base, out_end)).any()),
                ]
            with m.Case(Opcode.POOL):
                a = h.args.pool
                oh = (a.h - a.kernel) // a.stride + 1
                ow = (a.w - a.kernel) // a.stride + 1
                in_end = a.in_base + a.h * a.w * a.c
                out_end = a.out_base + oh * ow * a.c
                m.d.comb += [
                    geometry.eq(Cat(a.h == 0, a.w == 0, a.c == 0, a.kernel == 0, a.stride == 0,
                                    a.kernel > a.h, a.kernel > a.w).any()),
                    address.eq(Cat(in_end > depth, out_end > depth,
                                   overlap(a.in_base, in_end, a.out_base, out_end)).any()),
                ]
            with m.Case(Opcode.READ):
                a = h.args.read
                m.d.comb += address.eq(a.addr + a.count > depth)
            with m.Case(Opcode.NOP, Opcode.STATS, Opcode.BARRIER):
                pass
            with m.Default():
                m.d.comb += opcode.eq(1)

        with m.If(opcode):
            m.d.comb += self.errors.eq(Error.OPCODE)
        with m.Elif(geometry):
            m.d.comb += self.errors.eq(Error.GEOMETRY)
        with m.Elif(address):
            m.d.comb += self.errors.eq(Error.ADDRESS)
        return m
