"""The system's golden side: compiler and instruction-level executor against run_int8."""

from dataclasses import replace

import numpy as np
import pytest
from tessera.golden.compiler import compile_model
from tessera.golden.errors import TesseraError
from tessera.golden.executor import CONV_OVERHEAD, STATS_OVERHEAD, Executor, run_program
from tessera.golden.gemm import conv_output_size
from tessera.golden.inference import QLayer, QModel, run_int8
from tessera.golden.isa import (
    INSTRUCTION_WORDS,
    Barrier,
    Conv,
    Error,
    Fc,
    Load,
    Op,
    OutKind,
    Pool,
    Raw,
    Read,
    Space,
    Stats,
    int8_words,
    pack_payload,
    unpack_payload,
)
from tessera.golden.system_config import SparseConfig, SystemConfig, SystolicConfig
from tessera.golden.systolic import gemm_cycles

#: A small system: a 4 x 4 array whose buffers force conv layers into several row chunks.
SMALL = SystemConfig(
    systolic=SystolicConfig(rows=4, cols=4, max_m=32, max_k=128, max_n=16),
    sparse=SparseConfig(n_pes=4, spmat_depth=256, ptr_depth=512, act_depth=64, param_depth=64),
    act_depth=4096, weight_depth=1024, qparam_depth=128, stats_depth=64)


def _requant(rng, out, fan_in):
    multiplier = rng.integers(2**13, 2**15, size=out)
    scale = np.sqrt(fan_in) * 40 * 40 * multiplier / 60  # outputs of tens of steps
    shift = np.clip(np.round(np.log2(scale)), 1, 47).astype(np.int64)
    return rng.integers(-2000, 2000, size=out), multiplier, shift


def _weights(rng, out, fan_in, bits):
    if bits is None:
        return rng.integers(-128, 128, size=(out, fan_in)).astype(np.int8), None, None
    book = np.concatenate([[0], rng.integers(-128, 128, size=2**bits - 1)]).astype(np.int8)
    idx = rng.integers(1, 2**bits, size=(out, fan_in))
    idx[rng.random((out, fan_in)) < rng.uniform(0.3, 0.95)] = 0
    return book[idx], book, idx


def random_model(seed):
    """A random stack of conv, pool and fc layers that fits :data:`SMALL`."""
    rng = np.random.default_rng(seed)
    layers = []
    if rng.random() < 0.7:
        shape = (int(rng.integers(3, 10)), int(rng.integers(3, 10)), int(rng.integers(1, 4)))
        for _ in range(int(rng.integers(1, 4))):
            h, w, c = shape
            if rng.random() < 0.3 and min(h, w) >= 2:
                k = int(rng.integers(1, min(h, w, 3) + 1))
                layer = QLayer.max_pool(f"l{len(layers)}", shape, k, int(rng.integers(1, 3)))
            else:
                k = int(rng.integers(1, 4))
                pad = int(rng.integers(0, 2))
                if k > min(h, w) + 2 * pad:
                    k = 1
                stride = int(rng.integers(1, 3))
                oh = conv_output_size(h, k, stride, pad)
                ow = conv_output_size(w, k, stride, pad)
                # Keep every feature map within the sparse engine's 256 inputs.
                oc = int(rng.integers(1, max(2, min(9, 250 // (oh * ow) + 1))))
                weight, book, idx = _weights(rng, oc, k * k * c, [None, 3, 4][rng.integers(3)])
                bias, mult, shift = _requant(rng, oc, k * k * c)
                layer = QLayer(f"l{len(layers)}", "conv", weight, bias, mult, shift,
                               bool(rng.integers(2)), shape, kernel=k,
                               stride=stride, padding=pad,
                               codebook=book, indices=idx, engine="systolic")
            layers.append(layer)
            shape = tuple(layer.out_shape)
        input_shape = layers[0].in_shape
    else:
        shape = input_shape = (int(rng.integers(4, 80)),)
    for _ in range(int(rng.integers(1, 3))):
        fan_in = int(np.prod(shape))
        out = int(rng.integers(2, 40))
        bits = [None, 2, 4][rng.integers(3)] if fan_in <= SMALL.systolic.max_k else 4
        if bits is None:  # a dense FC runs on the systolic array: N within its buffers
            out = min(out, SMALL.systolic.max_n)
        weight, book, idx = _weights(rng, out, fan_in, bits)
        bias, mult, shift = _requant(rng, out, fan_in)
        layers.append(QLayer(f"l{len(layers)}", "fc", weight, bias, mult, shift,
                             bool(rng.integers(2)), shape, codebook=book, indices=idx))
        shape = (out,)
    return QModel(f"random{seed}", input_shape, 1 / 127, layers, n_pes=4)


def _inputs(rng, model, n):
    x = rng.integers(-128, 128, size=(n, *model.input_shape))
    x[rng.random(x.shape) < 0.3] = 0
    return x.astype(np.int8)


@pytest.mark.parametrize("seed", range(40))
def test_random_networks_match_run_int8(seed):
    model = random_model(seed)
    rng = np.random.default_rng(1000 + seed)
    x = _inputs(rng, model, 3)
    run = run_program(compile_model(model, SMALL), x)
    assert run.errors == 0, f"seed {seed}"
    np.testing.assert_array_equal(run.logits, run_int8(model, x), strict=True,
                                  err_msg=f"seed {seed}")


def test_random_networks_cover_every_path():
    kinds = set()
    for seed in range(40):
        model = random_model(seed)
        for plan in compile_model(model, SMALL).layers:
            kinds.add((plan.kind, plan.engine))
        kinds.add(("chunks", max(len(p.instructions) for p in compile_model(model, SMALL).layers
                                 if p.engine == "systolic") > 1
                   if any(p.engine == "systolic" for p in compile_model(model, SMALL).layers)
                   else False))
        body = compile_model(model, SMALL).body
        kinds.add(("resident", any(i.op == Op.FC and i.resident for i in body)))
    assert {("conv", "systolic"), ("fc", "sparse"), ("fc", "systolic"), ("maxpool", "pool"),
            ("chunks", True), ("resident", True)} <= kinds


@pytest.fixture(scope="module")
def cnn_result(model_cache, digits):
    from tessera.golden.pipeline import compress

    return compress("cnn", 0, data=digits, cache_dir=model_cache)


BIG = SystemConfig(systolic=SystolicConfig(rows=8, cols=8, max_m=64, max_k=128, max_n=64))


@pytest.mark.slow
@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_builtin_models_match_run_int8(which, request, digits):
    result = request.getfixturevalue(f"{which}_result")
    model = result.model
    x = model.quantize_input(digits.x_test[:20])
    program = compile_model(model, BIG)
    run = run_program(program, x)
    assert run.errors == 0
    np.testing.assert_array_equal(run.logits, run_int8(model, x), strict=True)
    engines = {plan.name: plan.engine for plan in program.layers}
    expected = {layer.name: "systolic" if layer.kind == "conv" else "sparse"
                for layer in model.layers}
    assert engines == expected


def test_stats_log_equals_retired_cycles():
    model = random_model(3)
    program = compile_model(model, SMALL)
    ex = Executor(SMALL)
    ex.run(program.setup)
    ex.outputs.clear()
    body = program.inference(_inputs(np.random.default_rng(0), model, 1)[0])
    retired = ex.run(body)
    stats = [w for kind, w in ex.outputs if kind == OutKind.STATS]
    before_stats = retired[:-1]
    assert stats[0] == sum(r.cycles for r in before_stats)
    assert stats[1] == 0 and stats[2] == len(before_stats)
    assert stats[3:] == [r.cycles for r in before_stats]
    assert retired[-1].cycles == INSTRUCTION_WORDS + STATS_OVERHEAD + len(stats)
    assert ex.outputs[-len(stats) - 1] == (OutKind.BARRIER, 0)


def test_conv_cycles_follow_the_engine_model():
    ex = Executor(SMALL)
    conv = Conv(0, 200, 0, 0, h=6, w=5, c=2, oc=6, kernel=3, stride=1, padding=1, rows=6)
    retired = ex.step(conv)
    timing = gemm_cycles(SMALL.systolic, 30, 18, 6)
    assert retired.cycles == INSTRUCTION_WORDS + CONV_OVERHEAD + timing.cycles


def test_load_payload_packing():
    rng = np.random.default_rng(5)
    for bits in (8, 32, 54, 64, 3):
        words = rng.integers(0, 2**min(bits, 62), size=int(rng.integers(0, 9))).tolist()
        payload = pack_payload(words, bits)
        assert len(payload) == -(-len(words) * bits // 32)
        assert all(0 <= p < 2**32 for p in payload)
        assert unpack_payload(payload, len(words), bits) == words
    assert pack_payload([0x12, 0x34, 0x56, 0x78, 0x9A], 8) == [0x78563412, 0x9A]


# -- bad input: flagged, skipped, still accepting commands ---------------------------------------

def _good_read(ex):
    ex.act[:4] = [1, 2, 3, -1]
    ex.outputs.clear()
    ex.step(Read(0, 4))
    return ex.outputs == [(OutKind.DATA, 0xFF030201)]


@pytest.mark.parametrize("instr, bit", [
    (Raw(0xF), Error.OPCODE),
    (Raw(0x8 | 0x1230), Error.OPCODE),
    (Load(7, addr=0, count=1, payload=[1]), Error.OPCODE),
    (Load(Space.ACT, addr=4090, count=8, payload=[1] * 8), Error.ADDRESS),
    (Load(Space.SPMAT, pe=5, addr=0, count=1, payload=[1]), Error.ADDRESS),
    (Read(4095, 2), Error.ADDRESS),
    (Conv(0, 100, 0, 0, h=4, w=4, c=1, oc=2, kernel=7, padding=1, rows=1), Error.GEOMETRY),
    (Conv(0, 100, 0, 0, h=4, w=4, c=15, oc=2, kernel=3, rows=1), Error.GEOMETRY),  # K > max_k
    (Conv(0, 100, 0, 0, h=4, w=4, c=1, oc=2, kernel=3, row0=1, rows=2), Error.GEOMETRY),
    (Conv(0, 10, 0, 0, h=4, w=4, c=1, oc=2, kernel=3, rows=2), Error.ADDRESS),  # overlap
    (Conv(0, 100, 1020, 0, h=4, w=4, c=1, oc=2, kernel=3, rows=2), Error.ADDRESS),
    (Fc(0, 100, cols=300, rows=4, ptr_base=0, param_base=0), Error.GEOMETRY),
    (Fc(0, 100, cols=8, rows=4, ptr_base=510, param_base=0), Error.ADDRESS),
    (Fc(0, 100, cols=8, rows=4, ptr_base=0, param_base=0, codebook=SMALL.sparse.codebooks),
     Error.ADDRESS),                                                  # no such codebook slot
    (Load(Space.CODEBOOK, addr=SMALL.sparse.codebook_depth, count=1, payload=[1]),
     Error.ADDRESS),                                                  # a slot past the count
    (Pool(0, 100, h=2, w=4, c=1, kernel=3, stride=1), Error.GEOMETRY),
    (Pool(4000, 100, h=10, w=10, c=1, kernel=2, stride=2), Error.ADDRESS),
])
def test_bad_instruction_is_flagged_and_skipped(instr, bit):
    ex = Executor(SMALL)
    before = ex.act.copy()
    retired = ex.step(instr)
    assert retired.errors == bit
    np.testing.assert_array_equal(ex.act, before)
    assert ex.outputs == []
    assert _good_read(ex)                      # still accepting commands
    ex.step(Barrier(9))
    ex.outputs.clear()
    ex.step(Stats())
    words = [w for _, w in ex.outputs]
    assert words[1] == bit                      # sticky until STATS
    ex.outputs.clear()
    ex.step(Stats())
    assert ex.outputs[1] == (OutKind.STATS, 0)  # STATS cleared it


def test_bad_load_still_takes_its_payload_cycles():
    ex = Executor(SMALL)
    good = ex.step(Load(Space.ACT, addr=0, count=8, payload=int8_words(range(8))))
    bad = ex.step(Load(Space.ACT, addr=4092, count=8, payload=int8_words(range(8))))
    assert bad.errors == Error.ADDRESS and bad.cycles == good.cycles


def _tiny_model(**changes):
    rng = np.random.default_rng(0)
    conv = QLayer("c", "conv", rng.integers(-5, 5, size=(4, 9)).astype(np.int8),
                  np.zeros(4, np.int64), np.ones(4, np.int64), np.ones(4, np.int64), True,
                  (6, 6, 1), kernel=3)
    fc = QLayer("f", "fc", rng.integers(-5, 5, size=(3, 64)).astype(np.int8),
                np.zeros(3, np.int64), np.ones(3, np.int64), np.ones(3, np.int64), False,
                (4, 4, 4))
    return QModel("tiny", (6, 6, 1), 1 / 127, [conv, fc])


@pytest.mark.parametrize("config, message", [
    (SystemConfig(act_depth=64), r"model tiny does not fit: its feature maps need 2 x 64 bytes"),
    (SystemConfig(weight_depth=10), r"model tiny does not fit: layer f needs weight words"),
    (SystemConfig(systolic=SystolicConfig(max_k=32)), r"layer f does not fit the systolic "
                                                         r"engine: K = 64"),
    (SystemConfig(systolic=SystolicConfig(max_m=3)), r"layer c does not fit the systolic "
                                                        r"engine: one output row is 4 pixels"),
])
def test_model_that_does_not_fit_is_refused_in_one_line(config, message):
    with pytest.raises(TesseraError, match=message) as info:
        compile_model(_tiny_model(), config)
    assert "\n" not in str(info.value)


def _compressed_fc_model(layers):
    """A model of ``layers`` compressed FC layers of 8 outputs (4-bit codebooks)."""
    rng = np.random.default_rng(3)
    fcs = []
    for n in range(layers):
        weight, book, idx = _weights(rng, 8, 8, 4)
        bias, mult, shift = _requant(rng, 8, 8)
        fcs.append(QLayer(f"f{n}", "fc", weight, bias, mult, shift, True, (8,),
                          codebook=book, indices=idx))
    return QModel("chain", (8,), 1 / 127, fcs, n_pes=4)


def test_every_codebook_is_loaded_once_with_the_model():
    config = replace(SMALL, sparse=replace(SMALL.sparse, codebooks=3))
    program = compile_model(_compressed_fc_model(3), config)
    books = [i for i in program.setup if i.op == Op.LOAD and i.space == Space.CODEBOOK]
    assert [i.addr for i in books] == [0, 16, 32]
    assert [i.codebook for i in program.body] == [0, 1, 2]
    assert [i.resident for i in program.body] == [0, 1, 1]  # the engine keeps its outputs
    body = program.inference(np.zeros(8, dtype=np.int8))
    assert not [i for i in body if i.op == Op.LOAD and i.space == Space.CODEBOOK]


def test_more_codebooks_than_slots_is_refused_in_one_line():
    config = replace(SMALL, sparse=replace(SMALL.sparse, codebooks=2))
    with pytest.raises(TesseraError, match=r"^model chain does not fit: layer f2 needs codebook "
                                           r"slot 2, the sparse engine holds codebooks = 2$"):
        compile_model(_compressed_fc_model(3), config)


def test_input_of_wrong_shape_is_refused():
    program = compile_model(_tiny_model(), SystemConfig())
    with pytest.raises(TesseraError, match=r"an input must be int8 of shape \(6, 6, 1\)"):
        program.inference(np.zeros((6, 6), dtype=np.int8))


def test_conv_output_size_agrees_with_executor_geometry():
    ex = Executor(SMALL)
    for h, k, s, p in [(5, 3, 2, 1), (7, 2, 3, 0), (4, 4, 1, 0)]:
        conv = Conv(0, 500, 0, 0, h=h, w=h, c=1, oc=1, kernel=k, stride=s, padding=p, rows=1)
        assert ex.step(conv).errors == 0
        oh = conv_output_size(h, k, s, p)
        conv = Conv(0, 500, 0, 0, h=h, w=h, c=1, oc=1, kernel=k, stride=s, padding=p,
                    row0=oh, rows=1)
        assert ex.step(conv).errors == Error.GEOMETRY


@pytest.mark.parametrize("space", list(Space))
def test_load_address_bound_is_exact(space):
    depth = SMALL.depth(space)
    pe = 3 if space in (Space.POINTER, Space.SPMAT, Space.SPARAM) else 0
    ex = Executor(SMALL)
    fits = ex.step(Load(space, pe=pe, addr=depth - 2, count=2, payload=[1, 1]))
    past = ex.step(Load(space, pe=pe, addr=depth - 1, count=2, payload=[1, 1]))
    assert (fits.errors, past.errors) == (0, Error.ADDRESS)


def test_read_and_pool_bounds_are_exact():
    ex = Executor(SMALL)
    assert ex.step(Read(4094, 2)).errors == 0
    assert ex.step(Read(4095, 2)).errors == Error.ADDRESS
    assert ex.step(Pool(4096 - 16, 0, h=4, w=4, c=1, kernel=2, stride=2)).errors == 0
    assert ex.step(Pool(4096 - 15, 0, h=4, w=4, c=1, kernel=2, stride=2)).errors == Error.ADDRESS


def test_an_output_stationary_engine_is_refused():
    with pytest.raises(TesseraError, match=r"^the system's systolic engine must be "
                                           r"weight-stationary .*not 'os'$"):
        SystemConfig(systolic=SystolicConfig(dataflow="os"))


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_retired_macs_count_each_engines_work(seed):
    """A CONV does ``M * K * N`` MACs (the layer's output pixels times its kernel volume times
    its channels), an FC one per entry its PEs issue for the non-zero inputs (padding entries
    included), every other instruction none; computed here from the layer shapes and the
    non-zero weights."""
    from tessera.golden.sparse_cycles import entries_from_coo

    model = random_model(seed)
    x = _inputs(np.random.default_rng(2000 + seed), model, 2)
    program = compile_model(model, SMALL)
    run = run_program(program, x)
    _, trace = run_int8(model, x, trace=True)
    counted = set()
    for plan, layer, inputs in zip(program.layers, model.layers, trace.inputs, strict=True):
        indices = [1 + i for i in plan.instructions]
        counted.update(indices)
        for n, retired in enumerate(run.retired):
            macs = sum(retired[i].macs for i in indices)
            if plan.engine == "systolic":
                pixels = int(np.prod(layer.out_shape[:-1])) if layer.kind == "conv" else 1
                expected = pixels * layer.weight.size
            elif plan.engine == "sparse":
                row, col = np.nonzero(layer.indices)
                entries = entries_from_coo(row, col, layer.weight.shape, n_pes=SMALL.sparse.n_pes,
                                           rel_bits=SMALL.sparse.rel_bits)
                expected = int(entries[:, inputs[n].ravel() != 0].sum())
            else:
                expected = 0
            assert macs == expected, f"seed {seed}, layer {layer.name}, input {n}"
    for retired in run.retired:
        assert all(r.macs == 0 for i, r in enumerate(retired) if i not in counted)


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_retired_compute_is_the_units_own_count(seed):
    """``compute`` is the engine's count (the rest of ``cycles`` is control and data
    movement): the systolic model's for a CONV, one window element a cycle for a POOL, and for
    an FC everything but the header, the overhead and the activation transfers."""
    from tessera.golden.executor import FC_OVERHEAD, POOL_OVERHEAD
    from tessera.golden.isa import Op

    model = random_model(seed)
    x = _inputs(np.random.default_rng(3000 + seed), model, 2)
    run = run_program(compile_model(model, SMALL), x)
    n = SMALL.sparse.n_pes
    for r in (r for retired in run.retired for r in retired):
        i = r.instruction
        if i.op == Op.CONV:
            ow = conv_output_size(i.w, i.kernel, i.stride, i.padding)
            expected = gemm_cycles(SMALL.systolic, i.rows * ow, i.kernel**2 * i.c, i.oc).cycles
            assert r.cycles == INSTRUCTION_WORDS + CONV_OVERHEAD + expected
        elif i.op == Op.POOL:
            oh, ow = ((s - i.kernel) // i.stride + 1 for s in (i.h, i.w))
            expected = oh * ow * i.c * i.kernel**2
            assert r.cycles == INSTRUCTION_WORDS + POOL_OVERHEAD + expected
        elif i.op == Op.FC:
            # SMALL: 4 PEs, so an ACT carries 8 consecutive activations (2 a PE), read in two
            # cycles of 4 (the activation memory's 4 read lanes: the 4 systolic rows).
            # A resident input (the FC before's outputs) is not sent, nor read: no transfers.
            assert (n, SMALL.systolic.rows) == (4, 4)
            transfers = -1 if i.resident else -(-i.cols // 8) * 2
            expected = r.cycles - INSTRUCTION_WORDS - FC_OVERHEAD - transfers
            assert expected > 0
        else:
            expected = 0
        assert r.compute == expected, f"seed {seed}: {i}"
