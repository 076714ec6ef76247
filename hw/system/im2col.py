"""The im2col address generator: the activation addresses of the systolic ``a`` stream."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int
from tessera.golden.isa import FIELD_BITS, Op

from .protocol import args_layout

__all__ = ["Im2colAddressGenerator", "lane_layout"]

#: Width of an activation-memory address.
ADDR_WIDTH = FIELD_BITS[Op.CONV]["in_base"]

#: One lane of an address word: the address, or ``zero`` (padding, or past K).
lane_layout = data.StructLayout({"addr": unsigned(ADDR_WIDTH), "zero": 1})


class Im2colAddressGenerator(wiring.Component):
    """Turn a CONV's geometry into one word of ``rows`` lane addresses a cycle (weight-stationary).

    The words are those of :func:`tessera.golden.im2col_stream.im2col_addresses`: M-tiles of
    ``tile_m`` output pixels, then K-tiles of ``rows`` patch elements, then the pixels of the
    M-tile; lane ``i`` of K-tile ``kt`` is patch element ``kt * rows + i`` in ``(ky, kx, c)``
    order, at NHWC address ``in_base + ((oy*stride + ky - padding) * w + ox*stride + kx -
    padding) * c + ci``, or ``zero`` when that falls in the padding or past ``K``. Reading
    activation memory through them gives :func:`tessera.golden.systolic.pack_a` of the patches.

    No division at run time: output columns advance by ``stride`` while the next window fits;
    lane ``i`` is lane 0 plus ``i`` in the mixed radix (ky, kx, ci), adding the digits of ``i``
    (a table of ``c`` and ``kernel``, registered when the command is taken) with two carries,
    and lane 0 of the next K-tile is lane 0 plus ``rows``.

    The addresses leave through a pipeline of :attr:`latency` registers (``min(3, rows)``): the
    lanes' window positions and padding test, then ``iy * w + ix``, then ``in_base + (...) * c
    + ci``, so that no cycle holds two multiplications and ``o.payload`` is a register. The
    pipeline stalls as a whole on ``o.ready``.

    Timing and back-pressure: a command transferred at edge 0 offers its first word after edge
    :attr:`latency` and one word after every transfer (``o.valid`` stays high until the last
    word is taken); ``cmd.ready`` is high exactly when idle, so the next command is taken at
    the edge after the last word's transfer at the earliest. The latency costs the system no
    cycle: the systolic engine loads a weight tile (``rows`` cycles) before it reads its first
    A word, so A may arrive up to ``rows`` cycles later than :mod:`tessera.golden.systolic`'s
    cycle model assumes without moving any of its events. The geometry is not checked (the
    command processor refuses bad ones); zero sizes end the command without a word.

    Parameters
    ----------
    rows : int
        Lanes per word: the systolic array's rows R, 1..32.
    tile_m : int
        Output pixels per M-tile: the engine's accumulator depth, 1..65535.

    Members
    -------
    cmd : In(stream.Signature(args_layout(Op.CONV)))
    o : Out(stream.Signature(data.ArrayLayout(lane_layout, rows)))
    busy : Out(1)

    Raises
    ------
    TypeError
        If a parameter is not an integer or is out of range.
    """

    def __init__(self, *, rows=8, tile_m=64):
        self._rows = check_int(rows, "rows", 1, 32)
        self._tile_m = check_int(tile_m, "tile_m", 1, 65535)
        super().__init__({
            "cmd": In(stream.Signature(args_layout(Op.CONV))),
            "o": Out(stream.Signature(data.ArrayLayout(lane_layout, self._rows))),
            "busy": Out(1),
        })

    @property
    def rows(self):
        return self._rows

    @property
    def tile_m(self):
        return self._tile_m

    @property
    def latency(self):
        """Edges from a command's transfer to its first word being offered: ``min(3, rows)``."""
        return min(3, self._rows)

    def elaborate(self, platform):
        m = Module()
        bits = FIELD_BITS[Op.CONV]
        args = Signal(args_layout(Op.CONV))
        running = Signal()
        pos = signed(bits["h"] + 3)
        # The current output pixel, as the window's top-left input position, and the rows of
        # the chunk left (this one included).
        iy0 = Signal(pos, name="corner_y")
        ix0 = Signal(pos, name="corner_x")
        rows_left = Signal(bits["rows"])
        # Where the current M-tile starts, to run it again for the next K-tile.
        t_iy0, t_ix0, t_rows_left = Signal(pos), Signal(pos), Signal(bits["rows"])
        m_count = Signal(range(self._tile_m))
        # Lane 0's patch element.
        ky0 = Signal(range(2 ** bits["kernel"] + self._rows + 1), name="lane0_ky")
        kx0 = Signal(bits["kernel"], name="lane0_kx")
        ci0 = Signal(bits["c"], name="lane0_ci")

        # The pipeline: stage 1 (window positions, padding), stage 2 (iy * w + ix), stage 3
        # (the addresses, o.payload); registers at the last `latency` of those boundaries. It
        # moves as a whole when its last word is absent or taken.
        stages = self.latency
        valid = [Signal(name=f"valid{i + 1}") for i in range(stages)]
        flow = Signal()
        busy = Cat(running, *valid).any()
        m.d.comb += [flow.eq(~valid[-1] | self.o.ready), self.cmd.ready.eq(~busy),
                     self.busy.eq(busy), self.o.valid.eq(valid[-1])]
        with m.If(flow):
            m.d.sync += [valid[0].eq(running)] + [valid[i].eq(valid[i - 1])
                                                  for i in range(1, stages)]
        registered = set(range(4 - stages, 4))      # which of boundaries 1, 2, 3 hold registers

        def boundary(n, value, name):
            """``value`` after boundary ``n``: a register that moves with the pipeline, or the
            value itself where this latency has no register."""
            if n not in registered:
                return value
            reg = Signal(value.shape(), name=name)
            with m.If(flow):
                m.d.sync += reg.eq(value)
            return reg

        k, c = args.kernel, args.c
        # The lanes: lane 0 plus i in the mixed radix (ky, kx, ci) of radices (-, k, c), for
        # i = 0 .. R (lane R: the next K-tile's lane 0). The digits of each i depend on the
        # command only: tables of (c, k), registered when it is taken. Adding them is two
        # carries, the same for every lane: no chain.
        digits = [(Signal(range(self._rows + 1), name=f"d{i}_ky"),
                   Signal.like(kx0, name=f"d{i}_kx"),
                   Signal(range(self._rows + 1), name=f"d{i}_ci")) for i in range(self._rows + 1)]
        lanes = []
        for i, (dky, dkx, dci) in enumerate(digits):
            s_ci = ci0 + dci
            carry_c = s_ci >= c
            s_kx = kx0 + dkx + carry_c
            carry_k = s_kx >= k
            lane = (Signal.like(ky0, name=f"ky{i}"), Signal.like(kx0, name=f"kx{i}"),
                    Signal.like(ci0, name=f"ci{i}"))
            m.d.comb += [lane[2].eq(Mux(carry_c, s_ci - c, s_ci)),
                         lane[1].eq(Mux(carry_k, s_kx - k, s_kx)),
                         lane[0].eq(ky0 + dky + carry_k)]
            lanes.append(lane)
        word = Signal.like(self.o.payload, name="word")
        for i, (ky, kx, ci) in enumerate(lanes[:-1]):
            iy = Signal(pos, name=f"iy{i}")
            ix = Signal(pos, name=f"ix{i}")
            m.d.comb += [iy.eq(iy0 + ky), ix.eq(ix0 + kx)]
            outside = (ky >= k) | (iy < 0) | (iy >= args.h) | (ix < 0) | (ix >= args.w)
            # Inside the map, iy and ix are below 256: their low bytes are the position.
            iy1 = boundary(1, iy.as_unsigned()[:bits["h"]], f"s1_iy{i}")
            ix1 = boundary(1, ix.as_unsigned()[:bits["w"]], f"s1_ix{i}")
            ci1 = boundary(1, ci, f"s1_ci{i}")
            out1 = boundary(1, outside, f"s1_zero{i}")
            pixel2 = boundary(2, iy1 * args.w + ix1, f"s2_pixel{i}")
            ci2, out2 = boundary(2, ci1, f"s2_ci{i}"), boundary(2, out1, f"s2_zero{i}")
            with m.If(flow):
                m.d.sync += [word[i].zero.eq(out2),
                             word[i].addr.eq(Mux(out2, 0, args.in_base + pixel2 * c + ci2))]
        m.d.comb += self.o.payload.eq(word)
        next_ky = lanes[-1][0]
        last_kt = next_ky >= k

        next_ix0 = ix0 + args.stride
        row_end = next_ix0 + k > args.w + args.padding
        chunk_end = row_end & (rows_left == 1)
        tile_end = (m_count == self._tile_m - 1) | chunk_end

        def advance_pixel():
            with m.If(row_end):
                m.d.sync += [ix0.eq(-args.padding), iy0.eq(iy0 + args.stride),
                             rows_left.eq(rows_left - 1)]
            with m.Else():
                m.d.sync += ix0.eq(next_ix0)

        with m.If(running & flow):                 # a word enters the pipeline
            with m.If(~tile_end):
                advance_pixel()
                m.d.sync += m_count.eq(m_count + 1)
            with m.Elif(~last_kt):
                m.d.sync += [ky0.eq(lanes[-1][0]), kx0.eq(lanes[-1][1]), ci0.eq(lanes[-1][2]),
                             iy0.eq(t_iy0), ix0.eq(t_ix0), rows_left.eq(t_rows_left),
                             m_count.eq(0)]
            with m.Elif(chunk_end):
                m.d.sync += running.eq(0)
            with m.Else():
                advance_pixel()
                m.d.sync += [ky0.eq(0), kx0.eq(0), ci0.eq(0), m_count.eq(0)]
                with m.If(row_end):
                    m.d.sync += [t_ix0.eq(-args.padding), t_iy0.eq(iy0 + args.stride),
                                 t_rows_left.eq(rows_left - 1)]
                with m.Else():
                    m.d.sync += [t_ix0.eq(next_ix0), t_iy0.eq(iy0),
                                 t_rows_left.eq(rows_left)]

        with m.If(self.cmd.valid & self.cmd.ready):
            p = self.cmd.payload
            for i, (dky, dkx, dci) in enumerate(digits):
                # i = (dky * k + dkx) * c + dci, with dci < c and dkx < k.
                quotient = Signal(range(i + 2), name=f"q{i}")
                with m.Switch(p.c):
                    for cv in range(1, i + 1):
                        with m.Case(cv):
                            m.d.comb += quotient.eq(i // cv)
                            m.d.sync += dci.eq(i % cv)
                    with m.Default():
                        m.d.sync += dci.eq(i)
                with m.Switch(p.kernel):
                    for kv in range(1, min(i, 2 ** bits["kernel"] - 1) + 1):
                        with m.Case(kv):
                            m.d.sync += [dky.eq(quotient // kv), dkx.eq(quotient % kv)]
                    with m.Default():
                        m.d.sync += [dky.eq(0), dkx.eq(quotient)]
            first_iy = p.row0 * p.stride - p.padding
            m.d.sync += [args.eq(p), iy0.eq(first_iy), ix0.eq(-p.padding),
                         t_iy0.eq(first_iy), t_ix0.eq(-p.padding), rows_left.eq(p.rows),
                         t_rows_left.eq(p.rows), m_count.eq(0), ky0.eq(0), kx0.eq(0),
                         ci0.eq(0)]
            empty = Cat(p.h == 0, p.w == 0, p.c == 0, p.kernel == 0, p.stride == 0,
                        p.rows == 0).any()
            m.d.sync += running.eq(~empty)
        return m
