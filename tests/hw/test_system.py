# amaranth: UnusedElaboratable=no
"""The system top end to end on Icarus and Verilator (tests/hw/tb_system.py).

Programs are compiled (tessera.golden.compiler), run on the golden executor, and sent to the
hardware in bulk; every ``o`` word must equal the executor's: the logits (equal to
``run_int8``), the BARRIER tags, and the STATS words, which hold the cycles of every
instruction. One small configuration (a 4 x 4 array, four sparse PEs) exercises every path:
conv in row chunks, dense FC on the systolic array, compressed FC on the sparse array,
max-pool, every LOAD space.
"""

from dataclasses import replace

import numpy as np
import pytest
from tessera.golden import isa
from tessera.golden.compiler import compile_model
from tessera.golden.executor import Executor
from tessera.golden.inference import run_int8
from tessera.golden.system_config import SystolicConfig
from tessera.hw.system.protocol import OutputKind, output_layout
from tessera.hw.system.top import SystemTop
from tessera.sim.host.system import encode_program
from tessera.sim.runner import Design, simulate

from tests.golden.test_system import SMALL, _inputs, random_model

SIMULATORS = ["icarus", "verilator"]


def _expected(config, instructions):
    """The executor's ``o`` words (``output_layout`` ints) and which are cycle counts."""
    ex = Executor(config)
    ex.run(instructions)
    words, cycles = [], []
    stats_index = 0
    for kind, value in ex.outputs:
        words.append(output_layout.const({"data": value,
                                          "kind": OutputKind(kind.value)}).as_bits())
        if kind == isa.OutKind.STATS:
            cycles.append(stats_index == 0 or stats_index >= 3)
            stats_index += 1
        else:
            cycles.append(False)
            stats_index = 0
    return ex, np.array(words, dtype=np.int64), np.array(cycles)


def _inputs_of(programs, config, *, loose_cycles):
    data = {}
    for n, instructions in enumerate(programs):
        _, expected, cycles = _expected(config, instructions)
        data[f"words{n}"] = encode_program(instructions, config).astype(np.int64)
        data[f"expected{n}"] = expected
        data[f"loose{n}"] = cycles if loose_cycles else np.zeros_like(cycles)
    return data


def run(sim, testcase, programs, *, loose_cycles=False, config=SMALL, extra=None, **params):
    inputs = _inputs_of(programs, config, loose_cycles=loose_cycles)
    inputs.update(extra or {})
    return simulate(Design(SystemTop, **config.to_dict()), "tests.hw.tb_system", sim=sim,
                    testcase=testcase, params={"programs": len(programs), **params},
                    inputs=inputs)


def _model_program(seed, count=2, config=SMALL):
    model = random_model(seed)
    program = compile_model(model, config)
    x = _inputs(np.random.default_rng(1000 + seed), model, count)
    instructions = list(program.setup)
    for n, sample in enumerate(x):
        instructions += program.inference(sample, tag=n)
    return model, program, x, instructions


def _logits(ex, program, count):
    """The logits in the executor's READ words (the words the hardware must send)."""
    data = [v for kind, v in ex.outputs if kind == isa.OutKind.DATA]
    raw = b"".join(int(w).to_bytes(4, "little") for w in data)
    per = -(-program.output_size // 4) * 4
    return np.frombuffer(raw, dtype=np.int8).reshape(count, per)[:, :program.output_size]


def test_random_programs_are_what_run_int8_computes():
    """The host side of the end-to-end tests: the executor's logits are run_int8's."""
    for seed in range(6):
        model, program, x, instructions = _model_program(seed)
        ex, _, _ = _expected(SMALL, instructions)
        np.testing.assert_array_equal(_logits(ex, program, len(x)),
                                      run_int8(model, x).reshape(len(x), -1),
                                      err_msg=f"seed {seed}")


@pytest.mark.parametrize("sim", SIMULATORS)
def test_random_networks(sim):
    seeds = (0, 3, 6, 8) if sim == "icarus" else range(12)
    programs = [_model_program(seed)[3] for seed in seeds]
    result = run(sim, "programs", programs)
    assert result.report["checked"] > 20 * len(programs)


def _lanes(cols, lanes):
    return replace(SMALL, systolic=SystolicConfig(rows=4, cols=cols, max_m=32, max_k=128,
                                                  max_n=16, lanes=lanes))


#: The output path's widths beside SMALL's (four lanes, a row of the 4 x 4 array a word): one
#: result a word (the small system's narrow path), two words a row, and eight lanes (a 4 x 8
#: array: eight banks of activation memory, past a LOAD's four bytes).
LANE_CONFIGS = {"1-lane": _lanes(4, 1), "2-lane": _lanes(4, 2), "4x8": _lanes(8, 8)}


@pytest.mark.parametrize(("name", "sim"), [(name, "icarus") for name in LANE_CONFIGS]
                         + [("4x8", "verilator")])
def test_output_lanes(name, sim):
    """Random networks on systems whose engine writes 1, 2 and 8 output channels a cycle:
    the same logits, every instruction's cycles the executor's."""
    config = LANE_CONFIGS[name]
    programs = [_model_program(seed, config=config)[3] for seed in (1, 4)]
    result = run(sim, "programs", programs, config=config)
    assert result.report["checked"] > 20 * len(programs)


@pytest.mark.parametrize(("name", "sim"), [("2-lane", "icarus"), ("4x8", "icarus"),
                                           ("4x8", "verilator")])
def test_result_words_write_only_their_lanes(name, sim):
    """A CONV of 3 output channels on engines of 2 and 8 lanes: a row's last word holds 1 or 3
    results, and the bytes after the output (a guard pattern, READ back) must survive. A
    processor that wrote every lane of a word would pass the random networks (a row's extra
    lanes land on the next row, written later) but not this."""
    config = LANE_CONFIGS[name]
    out, size = 200, 4 * 4 * 3
    guard = isa.int8_words(np.arange(101, 109))
    program = [isa.Load(isa.Space.ACT, addr=0, count=16, payload=isa.int8_words(
                   np.arange(-8, 8))),
               isa.Load(isa.Space.ACT, addr=out + size, count=8, payload=guard),
               isa.Conv(0, out, 0, 0, h=4, w=4, c=1, oc=3, kernel=1, rows=4),
               isa.Read(out, size + 8), isa.Barrier(1)]
    ex, _, _ = _expected(config, program)
    assert ex.act[out + size:out + size + 8].tolist() == list(range(101, 109))
    result = run(sim, "programs", [program], config=config)
    assert result.report["checked"] > size // 4


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize(("valid", "ready"), [("random", "random"), ("bursty", "alternate")])
def test_gaps_and_backpressure(sim, valid, ready):
    programs = [_model_program(seed)[3] for seed in (1, 2)]
    run(sim, "programs", programs, loose_cycles=True, valid=valid, ready=ready, pattern_seed=5)


def bad_program():
    """Every bad-input case the hardware sees, each followed by good work that must still run."""
    x = np.arange(-20, 20, dtype=np.int8)
    end = SMALL.act_depth
    pattern = isa.int8_words(np.arange(1, 17))
    # Good work after every bad instruction: a LOAD of five bytes at an unaligned address
    # inside a pattern (the bytes around it must survive), and the memory's last bytes (a bad
    # LOAD past the end must not write the part that is inside).
    good = [isa.Load(isa.Space.ACT, addr=100, count=40, payload=isa.int8_words(x)),
            isa.Load(isa.Space.ACT, addr=141, count=5, payload=isa.int8_words(-x[:5])),
            isa.Read(100, 56), isa.Read(end - 8, 8), isa.Barrier(1)]
    before = [isa.Load(isa.Space.ACT, addr=140, count=16, payload=pattern),
              isa.Load(isa.Space.ACT, addr=end - 8, count=8, payload=pattern[:8])]
    bad = [
        isa.Raw(0xF),                                                 # unknown opcode
        isa.Raw(0x8 | 5 << 4),                                        # unknown opcode, arguments
        isa.Load(7, count=5, payload=[1, 2, 3, 4, 5]),                # a space that does not exist
        # past the activation memory
        isa.Load(isa.Space.ACT, addr=SMALL.act_depth - 2, count=4, payload=[1, 2, 3, 4]),
        isa.Load(isa.Space.WEIGHT, addr=SMALL.weight_depth, count=1, payload=[7]),
        isa.Load(isa.Space.SPMAT, pe=SMALL.sparse.n_pes, count=1, payload=[3]),  # no such PE
        isa.Read(SMALL.act_depth - 3, 4),
        isa.Conv(0, 200, 0, 0, h=2, w=2, c=1, oc=1, kernel=5),        # kernel > padded input
        isa.Conv(0, 200, 0, 0, h=4, w=4, c=1, oc=SMALL.systolic.max_n + 1, kernel=1),
        isa.Conv(0, 10, 0, 0, h=4, w=4, c=1, oc=1),                   # output overlaps input
        isa.Fc(0, 300, cols=SMALL.sparse.n_pes * SMALL.sparse.act_depth + 1, rows=4,
           ptr_base=0, param_base=0),
        isa.Fc(0, 300, cols=4, rows=4, ptr_base=SMALL.sparse.ptr_depth, param_base=0),
        # a codebook slot past the configured count: to LOAD and to FC
        isa.Load(isa.Space.CODEBOOK, addr=SMALL.sparse.codebook_depth, count=2, payload=[1, 2]),
        isa.Fc(0, 300, cols=4, rows=4, ptr_base=0, param_base=0,
               codebook=SMALL.sparse.codebooks),
        isa.Pool(0, 200, h=2, w=2, c=1, kernel=3),
        isa.Pool(0, 200, h=0, w=2, c=1),
    ]
    program = [*before, *good]
    for instr in bad:
        program += [instr, isa.Stats(), *good]
    return [*program, isa.Nop(), isa.Stats()]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_bad_input_is_flagged_skipped_and_never_hangs(sim):
    ex, expected, _ = _expected(SMALL, bad_program())
    errors = [w for kind, w in ex.outputs if kind == isa.OutKind.STATS]
    assert any(errors), "the bad program raises errors in the executor"
    result = run(sim, "programs", [bad_program()])
    assert result.report["checked"] == len(expected)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_reset_mid_program_then_clean_program(sim):
    _, _, _, abandoned = _model_program(3)
    _, _, _, clean = _model_program(2, count=1)
    words = encode_program(abandoned, SMALL).astype(np.int64)
    run(sim, "reset_mid_program", [clean], extra={"abandoned": words}, reset_after=400)


#: A small CNN (conv, max-pool, conv, compressed FC) and a small MLP (compressed FC, dense FC
#: on the systolic array) among the random networks.
NETWORKS = {"cnn": (3, ["conv", "maxpool", "conv", "fc"]), "mlp": (4, ["fc", "fc"])}


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("network", list(NETWORKS))
def test_small_networks_end_to_end(sim, network):
    seed, kinds = NETWORKS[network]
    model, program, x, instructions = _model_program(seed, count=3)
    assert [str(layer.kind) for layer in model.layers] == kinds
    ex, expected, _ = _expected(SMALL, instructions)
    np.testing.assert_array_equal(_logits(ex, program, len(x)),
                                  run_int8(model, x).reshape(len(x), -1))
    result = run(sim, "programs", [instructions])
    assert result.report["checked"] == len(expected)
