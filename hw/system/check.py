"""The command processor's header check: which error bit a header raises, before it runs, and
the sizes of the layer it describes."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.isa import CMD_WIDTH, FIELD_BITS, PER_PE, Error, Op, Space

from .protocol import Opcode, SpaceId, instruction_layout

__all__ = ["LATENCY", "HeaderCheck", "conv_sizes_layout", "divide_by_stride"]

#: Cycles from the header's word 0 (the kernel window) to valid outputs; word 1 (the sizes) is
#: needed one cycle later, the other words in the cycle the outputs are used.
LATENCY = 4

# A CONV's and a POOL's window fits word 0 and their sizes words 0 and 1: the pipeline below
# starts on word 0 while the later words arrive.
_WINDOW = ("h", "w", "kernel", "stride", "padding")
_SIZES = ("c", "oc", "rows", "row0")
for _op in ("conv", "pool"):
    _layout = instruction_layout["args"].shape[_op].shape
    _base = instruction_layout["args"].offset
    for _name, _field in _layout:
        _end = _base + _field.offset + _field.width
        assert _name not in _WINDOW or _end <= CMD_WIDTH, (_op, _name)
        assert _name not in _SIZES or _end <= 2 * CMD_WIDTH, (_op, _name)
for _name in ("h", "w", "kernel", "stride"):  # one window pipeline serves both
    _conv, _pool = (instruction_layout["args"].shape[op].shape[_name] for op in ("conv", "pool"))
    assert (_conv.offset, _conv.width) == (_pool.offset, _pool.width), _name


def _max(op, name):
    return 2 ** FIELD_BITS[op][name] - 1


def _bits(value):
    return max(1, int(value).bit_length())


def conv_sizes_layout(cols):
    """The sizes of a CONV the processor needs, for a systolic array of ``cols`` columns:
    ``m`` (rows x OW), ``k`` (kernel^2 x c), ``b_words`` (``b`` stream words), ``out_offset``
    (row0 x OW x oc: the first output's offset from ``out_base``), ``results`` (m x oc)."""
    c = Op.CONV
    ow = _max(c, "w") + 2 * _max(c, "padding")
    m = _max(c, "rows") * ow
    k = _max(c, "kernel") ** 2 * _max(c, "c")
    return data.StructLayout({
        "m": _bits(m), "k": _bits(k),
        "b_words": _bits(-(-_max(c, "oc") // cols) * k),
        "out_offset": _bits(_max(c, "row0") * ow * _max(c, "oc")),
        "results": _bits(m * _max(c, "oc")),
    })


def divide_by_stride(x, stride):
    """``x // stride`` for ``x`` below 512 and ``stride`` in 1..7, as shifts and multiplications
    by reciprocals (exact in that range; tested), not a divider. 0 for stride 0."""
    assert len(x) <= 9
    quotient = Signal(len(x))
    m = Module()
    with m.Switch(stride):
        for s in range(1, 8):
            with m.Case(s):
                if s & (s - 1) == 0:
                    m.d.comb += quotient.eq(x >> (s.bit_length() - 1))
                else:
                    multiplier, shift = _RECIPROCALS[s]
                    m.d.comb += quotient.eq((x * multiplier) >> shift)
    return m, quotient


#: ``x // s == (x * M) >> S`` for every ``x`` below 512.
_RECIPROCALS = {3: (171, 9), 5: (205, 10), 6: (171, 10), 7: (293, 11)}


class HeaderCheck(wiring.Component):
    """Classify an instruction header: 0 (it runs) or the one :class:`~tessera.golden.isa.Error`
    bit it raises, exactly as :func:`tessera.golden.executor.instruction_errors`; and the sizes
    of a CONV, for the processor.

    OPCODE: an opcode or a LOAD space that does not exist. GEOMETRY: zero sizes, a window larger
    than the (padded) input, a GEMM larger than the systolic buffers, output rows past the map,
    an FC larger than the sparse engine. ADDRESS: a range past its memory, a PE that does not
    exist, overlapping input and output. GEOMETRY wins over ADDRESS.

    Pipelined, so that no division or chain of multiplications sits in one cycle, and each
    stage holds one multiplier at most, between registers: the window (the padded spans less
    the kernel) is registered from word 0 of the header, the division by the stride in a stage
    of its own, the output sizes' products from word 1 in two more registered steps.
    ``errors`` and ``conv`` are valid once word 0 has been stable for :data:`LATENCY` cycles and
    word 1 for ``LATENCY - 1``; words 2 and 3 (addresses) are used combinationally. The
    processor fetches one word a cycle at most, so a CONV's or a POOL's are valid one cycle
    after the last word: it spends that cycle in ``CHECK`` before it dispatches (one cycle more
    for those two opcodes, bad ones included; the others do not wait, their checks are
    combinational or one stage deep).

    Parameters
    ----------
    config : tessera.golden.system_config.SystemConfig

    Members
    -------
    header : In(instruction_layout)
    errors : Out(4)
    conv : Out(conv_sizes_layout(config.systolic.cols))
    """

    def __init__(self, config):
        self._config = config
        super().__init__({
            "header": In(instruction_layout),
            "errors": Out(len(Error)),
            "conv": Out(conv_sizes_layout(config.systolic.cols)),
        })

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

        def stage(name, value):
            reg = Signal(value.shape(), name=name)
            m.d.sync += reg.eq(value)
            return reg

        def overlap(a0, a1, b0, b1):
            return (a0 < b1) & (b0 < a1)

        # -- the CONV / POOL pipeline (POOL: no padding, oc = c) -------------------------------
        conv, pool = h.args.conv, h.args.pool
        is_conv = h.opcode == Opcode.CONV
        # Stage 1, from word 0: the window (what the stride divides) and its verdict.
        pad = Mux(is_conv, conv.padding, 0)
        span_h, span_w = conv.h + 2 * pad, conv.w + 2 * pad
        window_bad = Cat(conv.h == 0, conv.w == 0, conv.kernel == 0, conv.stride == 0,
                         conv.kernel > span_h, conv.kernel > span_w).any()
        spans = [stage(f"span_{name}", Mux(window_bad, 0, span - conv.kernel)[:9])
                 for name, span in (("h", span_h), ("w", span_w))]
        # Copies of the fields the next stage multiplies, so that its multipliers take local
        # registers rather than the header's (which the whole processor reads).
        stride, kernel = stage("stride", conv.stride), stage("kernel", conv.kernel)
        in_h, in_w = stage("in_h", conv.h), stage("in_w", conv.w)
        bad0 = stage("window_bad", window_bad)
        # Stage 2: the output sizes, divided by the stride (a multiplication by a reciprocal).
        sizes = []
        for x in spans:
            divider, quotient = divide_by_stride(x, stride)
            m.submodules += divider
            sizes.append(quotient + 1)
        oh, ow = stage("oh", sizes[0]), stage("ow", sizes[1])
        hw, kk = stage("hw", in_h * in_w), stage("kk", kernel * kernel)
        bad1 = stage("window_bad2", bad0)
        # Stage 3, word 1: the sizes' first products.
        c = Mux(is_conv, conv.c, pool.c)
        n = Mux(is_conv, conv.oc, pool.c)
        ohow = stage("ohow", oh * ow)
        owoc = stage("owoc", ow * conv.oc)
        rows_ow = stage("rows_ow", conv.rows * ow)
        in_size2 = stage("in_size2", hw * c)
        k = stage("k", kk * c)
        oc_groups = stage("oc_groups", (conv.oc + sys.cols - 1) // sys.cols)
        bad2 = stage("sizes_bad", bad1 | (c == 0) | (is_conv & Cat(
            conv.oc == 0, conv.rows == 0, conv.row0 + conv.rows > oh).any()))
        fc_param_rows = stage("fc_param_rows", (h.args.fc.rows + sp.n_pes - 1) // sp.n_pes)
        # Stage 4: the second products, and the geometry verdict.
        out_size = stage("out_size", ohow * n)
        in_size = stage("in_size", in_size2)
        bad3 = stage("geometry_bad", bad2 | (is_conv & Cat(
            k > sys.max_k, conv.oc > sys.max_n, rows_ow > sys.max_m).any()))
        m.d.sync += [self.conv.m.eq(rows_ow), self.conv.k.eq(k),
                     self.conv.b_words.eq(oc_groups * k),
                     self.conv.out_offset.eq(conv.row0 * owoc),
                     self.conv.results.eq(rows_ow * conv.oc)]

        # -- the verdict, from the pipeline and the addresses ----------------------------------
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
            with m.Case(Opcode.CONV, Opcode.POOL):
                in_base, out_base = Mux(is_conv, conv.in_base, pool.in_base), \
                    Mux(is_conv, conv.out_base, pool.out_base)
                in_end, out_end = in_base + in_size, out_base + out_size
                m.d.comb += [
                    geometry.eq(bad3),
                    address.eq(Cat(in_end > depth, out_end > depth,
                                   overlap(in_base, in_end, out_base, out_end),
                                   is_conv & (conv.w_base + self.conv.b_words > cfg.weight_depth),
                                   is_conv & (conv.q_base + conv.oc > cfg.qparam_depth)).any()),
                ]
            with m.Case(Opcode.FC):
                a = h.args.fc
                side = sp.n_pes * sp.act_depth
                in_end, out_end = a.in_base + a.cols, a.out_base + a.rows
                m.d.comb += [
                    geometry.eq(Cat(a.cols == 0, a.rows == 0, a.cols > side,
                                    a.rows > side).any()),
                    address.eq(Cat(in_end > depth, out_end > depth,
                                   a.codebook >= sp.codebooks,
                                   a.ptr_base + a.cols + 1 > sp.ptr_depth,
                                   a.param_base + fc_param_rows > sp.param_depth,
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
