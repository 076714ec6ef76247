"""The host encoders (tessera.sim.host) against the protocol layouts they pack through.

Every field of every layout of both engines round-trips through the host's ``encode`` and
``decode``; every word the encoders build decodes, field by field, to what they were given; and
two independent oracles pin the bit order: golden's ``pack_entries`` for matrix-memory words and
little-endian int8 bytes for operand words.
"""

import random
from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Shape
from amaranth.lib import data
from tessera.golden.config import SparseConfig, SystolicConfig
from tessera.golden.config.sparse import ACT_LANES
from tessera.golden.eie import encode as eie_encode
from tessera.golden.eie import pack_entries
from tessera.golden.errors import TesseraError
from tessera.golden.systolic import pack_a, pack_b
from tessera.hw.sparse import protocol as sparse
from tessera.hw.systolic import protocol as systolic
from tessera.sim.host import systolic as host_systolic
from tessera.sim.host.sparse import Program, parse_stats, stats_words
from tessera.sim.host.words import (
    array_to_words,
    decode,
    decode_fields,
    encode,
    join_signed,
    words_to_array,
)

SPARSE = SparseConfig(n_pes=3, index_bits=3, rel_bits=5, weight_width=12, entries_per_word=4,
                      ptr_bits=12, spmat_depth=64, ptr_depth=64, act_depth=16, param_depth=16)
SYSTOLIC = SystolicConfig(rows=3, cols=5, max_m=40, max_k=20, max_n=30)


def _layouts():
    return {
        "sparse.command": sparse.command_layout(SPARSE),
        "sparse.run": sparse.run_layout,
        "sparse.params": sparse.params_layout,
        "sparse.act": sparse.act_layout,
        "sparse.codebook": sparse.codebook_layout(SPARSE),
        "sparse.pointers": sparse.pointers_layout(SPARSE),
        "sparse.spmat": sparse.spmat_layout(SPARSE),
        "sparse.stats": sparse.stats_layout(SPARSE),
        "systolic.command": systolic.command_layout(SYSTOLIC),
        "systolic.a": systolic.operand_layout(SYSTOLIC.rows),
        "systolic.b": systolic.operand_layout(SYSTOLIC.cols),
        "systolic.quant": systolic.quant_layout(SYSTOLIC.acc_width),
        "systolic.result": systolic.result_layout(SYSTOLIC.lanes, SYSTOLIC.acc_width),
    }


def _leaves(layout, path=()):
    """Every leaf field of ``layout``: (path, Shape or enum), in order."""
    if isinstance(layout, data.ArrayLayout):
        for i in range(layout.length):
            yield from _leaves(layout.elem_shape, (*path, i))
    elif isinstance(layout, data.Layout):
        for name, field in layout:
            yield from _leaves(field.shape, (*path, name))
    else:
        yield path, layout


def _range(shape):
    if isinstance(shape, type):  # an enum: its members
        return [member.value for member in shape]
    shape = Shape.cast(shape)
    if shape.signed:
        return [-(2 ** (shape.width - 1)), 2 ** (shape.width - 1) - 1]
    return [0, 2**shape.width - 1]


def _value(shape, choice):
    if isinstance(shape, type):
        return shape(choice)
    return choice


def _nest(layout, values):
    """Build the nested dict / list ``layout.const`` takes from leaf values."""
    if isinstance(layout, data.ArrayLayout):
        return [_nest(layout.elem_shape, values[i]) for i in range(layout.length)]
    if isinstance(layout, data.Layout):
        return {name: _nest(field.shape, values[name]) for name, field in layout}
    return values


def _get(const, path):
    for key in path:
        const = const[key]
    return const


def _tree(layout, pick):
    if isinstance(layout, data.ArrayLayout):
        return {i: _tree(layout.elem_shape, lambda p, i=i: pick((i, *p)))
                for i in range(layout.length)}
    if isinstance(layout, data.Layout):
        return {name: _tree(field.shape, lambda p, name=name: pick((name, *p)))
                for name, field in layout}
    return pick(())


@pytest.mark.parametrize("name", sorted(_layouts()))
def test_every_field_round_trips(name):
    """Each leaf at its extremes and at random values, the others random: the host's encoder
    packs what ``layout.const`` packs, and ``decode(encode(x)) == x`` field by field (so no two
    fields share a bit), through the layout's view and through ``decode_fields``."""
    layout = _layouts()[name]
    leaves = list(_leaves(layout))
    rng = random.Random(9)
    for trial in range(2 * len(leaves) + 8):
        chosen = {}
        for index, (path, shape) in enumerate(leaves):
            low_high = _range(shape)
            if isinstance(shape, type):
                choice = rng.choice(low_high)
            elif trial < 2 * len(leaves) and index == trial // 2:
                choice = low_high[trial % 2]
            else:
                choice = rng.randint(low_high[0], low_high[-1])
            chosen[path] = _value(shape, choice)

        fields = _nest(layout, _tree(layout, chosen.__getitem__))
        word = encode(layout, fields)
        assert word == layout.const(fields).as_value().value, f"{name}: encode != const"
        assert 0 <= word < 2**layout.size
        back = decode(layout, word)
        plain = decode_fields(layout, word)
        for path, _ in leaves:
            got = _get(back, path)
            want = chosen[path]
            assert got == want, f"{name}: field {path} is {got!r}, not {want!r} (seed 9)"
            got = _get(plain, path)
            want = getattr(want, "value", want)
            assert got == want, f"{name}: decode_fields: {path} is {got!r}, not {want!r} (seed 9)"


def _decode_all(program):
    return [program.decode(word) for word in program.words]


@pytest.mark.parametrize("act_pack", [True, False])
def test_program_words_decode_to_what_was_loaded(act_pack):
    cfg = replace(SPARSE, act_pack=act_pack)
    rng = np.random.default_rng(3)
    rows, cols = 10, 7
    codebook = np.array([0, -2048, -5, 3, 17, 100, 2047, 9])
    indices = (rng.random((rows, cols)) < 0.6) * rng.integers(1, 8, (rows, cols))
    matrix = eie_encode(indices, codebook, n_pes=cfg.n_pes, rel_bits=cfg.rel_bits,
                        index_bits=cfg.index_bits)
    bias = rng.integers(-(2**31), 2**31, rows)
    multiplier = rng.integers(0, 2**16, rows)
    shift = rng.integers(0, 48, rows)
    x = rng.integers(-128, 128, cols).astype(np.int8)
    program = Program(cfg)
    layer = program.load(matrix, bias, multiplier, shift)
    program.activations(x, cols)
    program.run(layer, relu=True, emit=False)
    program.stats()
    commands = _decode_all(program)
    ops = [c.op for c in commands]

    pointers = {k: {} for k in range(cfg.n_pes)}
    spmat = {k: {} for k in range(cfg.n_pes)}
    params = {}
    acts = {}
    book = {}
    for c in commands:
        if c.op == sparse.Op.POINTERS:
            fields = decode(sparse.pointers_layout(cfg), c.data)
            pointers[c.pe][2 * c.addr] = fields.even
            pointers[c.pe][2 * c.addr + 1] = fields.odd
        elif c.op == sparse.Op.SPMAT:
            spmat[c.pe][c.addr] = c.data
        elif c.op == sparse.Op.PARAMS:
            params[(c.pe, c.addr)] = decode(sparse.params_layout, c.data)
        elif c.op == sparse.Op.ACT:
            # The protocol's table: lane n feeds PE 8g + n % G at local S * addr + n // G.
            lanes = decode(sparse.act_layout, c.data)
            group = min(cfg.n_pes, ACT_LANES)
            span = max(1, ACT_LANES // cfg.n_pes) if cfg.act_pack else 1
            for lane in range(group * span):
                acts[(c.pe * ACT_LANES + lane % group, span * c.addr + lane // group)] = \
                    lanes[lane]
        elif c.op == sparse.Op.CODEBOOK:
            book[c.addr] = decode(sparse.codebook_layout(cfg), c.data).value
    for k in range(cfg.n_pes):
        part = matrix.pe(k)
        want = [int(p) + layer.entry_base[k] for p in part.col_ptr]
        assert [pointers[k][q] for q in range(len(want))] == want
        # The matrix-memory words: what golden's pack_entries makes (an independent packing).
        golden = pack_entries(part.v, part.z, index_bits=cfg.index_bits, rel_bits=cfg.rel_bits,
                              entries_per_word=cfg.entries_per_word)
        assert [spmat[k][w] for w in range(len(golden))] == golden
        for r in range(part.n_rows):
            i = r * cfg.n_pes + k
            got = params[(k, layer.param_base + r)]
            assert (got.bias, got.multiplier, got.shift) == (bias[i], multiplier[i], shift[i])
    for j in range(cols):
        assert acts[(j % cfg.n_pes, j // cfg.n_pes)] == x[j]
    assert [book[i] for i in range(len(codebook))] == codebook.tolist()
    run = commands[ops.index(sparse.Op.RUN)]
    fields = decode(sparse.run_layout, run.data)
    assert (run.addr, fields.rows, fields.ptr_base, fields.param_base) == \
        (cols, rows, layer.ptr_base, layer.param_base)
    assert (fields.relu, fields.raw, fields.emit) == (1, 0, 0)
    assert ops[-1] == sparse.Op.STATS


def test_stats_readout_decodes_every_counter():
    cfg = SPARSE
    n = cfg.n_pes
    values = [7, 2**32 - 1, 31, 2**31] + [10 + k for k in range(n)] + [2**31 + k for k in range(n)]
    # The o stream carries signed 32-bit words: large counters arrive negative.
    words = [v - 2**32 if v >= 2**31 else v for v in values]
    assert len(words) == stats_words(cfg) == 4 + 2 * n
    stats = parse_stats(words, cfg)
    assert [stats[k] for k in sparse.STATS_HEADER] == values[:4]
    np.testing.assert_array_equal(stats["busy"], np.array(values[4:4 + n], dtype=np.int64),
                                  strict=True)
    np.testing.assert_array_equal(stats["stall"], np.array(values[4 + n:], dtype=np.int64),
                                  strict=True)
    with pytest.raises(TesseraError, match=r"^a STATS readout has 10 words, not 9$"):
        parse_stats(words[:-1], cfg)


def test_systolic_words():
    cfg = SYSTOLIC
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (11, 7), dtype=np.int8)
    b = rng.integers(-128, 128, (7, 9), dtype=np.int8)
    bias = rng.integers(-(2**31), 2**31, 9)
    words = host_systolic.gemm_words(cfg, a, b, relu=True, bias=bias, multiplier=12345,
                                     shift=np.arange(9))
    cmd = decode(systolic.command_layout(cfg), words.cmd[0])
    assert (cmd.m, cmd.k, cmd.n, cmd.relu, cmd.raw) == (11, 7, 9, 1, 0)
    # Operand words: lane i in byte i, two's complement (an independent little-endian oracle).
    for lanes, got in ((pack_a(a, cfg), words.a), (pack_b(b, cfg), words.b)):
        assert got == [int.from_bytes(row.tobytes(), "little") for row in lanes]
    quant = [decode(systolic.quant_layout(cfg.acc_width), w) for w in words.q]
    assert [(q.bias, q.multiplier, q.shift) for q in quant] == \
        [(int(bias[j]), 12345, j) for j in range(9)]
    raw = host_systolic.gemm_words(cfg, a, b, raw=True)
    assert raw.q == [] and decode(systolic.command_layout(cfg), raw.cmd[0]).raw == 1
    with pytest.raises(TesseraError, match=r"^M = 41 is larger than"):
        host_systolic.command_words(cfg, 41, 1, 1)


@pytest.mark.parametrize("lanes", [1, 4])
def test_result_words_unpack_through_the_layout(lanes):
    """result_values against words made by the layout itself (``layout.const``): the valid
    lanes in order, sign-extended; a word claiming no lanes or too many is refused."""
    from tessera.golden.config.systolic import SystolicConfig

    cfg = SystolicConfig(rows=2, cols=4, acc_width=24, max_k=8, lanes=lanes)
    layout = systolic.result_layout(lanes, 24)
    rng = np.random.default_rng(lanes)
    values = rng.integers(-(2**23), 2**23, (6, lanes))
    counts = rng.integers(1, lanes + 1, 6)
    words = [layout.const({"data": row.tolist(), "n": int(n)}).as_value().value
             for row, n in zip(values, counts)]
    got, got_counts = host_systolic.result_values(cfg, words)
    expected = np.concatenate([row[:n] for row, n in zip(values, counts)])
    np.testing.assert_array_equal(got, expected, strict=True)
    np.testing.assert_array_equal(got_counts, counts.astype(np.int64), strict=True)
    bad = layout.const({"data": [0] * lanes, "n": 0}).as_value().value
    with pytest.raises(ValueError, match=r"^a result word carries n = 0 lanes"):
        host_systolic.result_values(cfg, [bad])


@pytest.mark.parametrize("width", [8, 64, 65, 130])
def test_words_cross_npz_unchanged(width):
    rng = np.random.default_rng(width)
    words = [0, 2**width - 1] + [int(rng.integers(0, 2**min(width, 63))) * 2 ** (width - 8)
                                 for _ in range(5)]
    words = [w % 2**width for w in words]
    array = words_to_array(words, width)
    assert array.dtype == np.uint64 and array.shape == (len(words), -(-width // 64))
    assert array_to_words(array) == words


def test_join_signed_puts_the_first_word_lowest():
    assert join_signed([1, -1, 0], 32) == 1 + (2**32 - 1) * 2**32
