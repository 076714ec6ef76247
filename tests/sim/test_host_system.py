"""The system wire format: layouts built from the ISA; the host encoder packs through them."""

import numpy as np
import pytest
from tessera.golden.isa import (
    FIELD_BITS,
    INSTRUCTION_WORDS,
    Barrier,
    Conv,
    Fc,
    Load,
    Op,
    OutKind,
    Pool,
    Raw,
    Read,
    Space,
    Stats,
)
from tessera.golden.system_config import SystemConfig, SystolicConfig
from tessera.hw.system.protocol import (
    HEADER_BITS,
    Opcode,
    OutputKind,
    SpaceId,
    instruction_layout,
    output_layout,
)
from tessera.sim.host.system import decode_header, decode_output, encode, encode_program

CONFIG = SystemConfig(systolic=SystolicConfig(rows=4, cols=4))


def test_enums_carry_the_golden_values():
    assert {m.name: m.value for m in Opcode} == {m.name: m.value for m in Op}
    assert {m.name: m.value for m in SpaceId} == {m.name: m.value for m in Space}
    assert {m.name: m.value for m in OutputKind} == {m.name: m.value for m in OutKind}


def test_header_fits_its_words():
    assert instruction_layout.size <= HEADER_BITS == 32 * INSTRUCTION_WORDS
    assert output_layout.size == 34


def _random_instruction(rng, op):
    args = {name: int(rng.integers(0, 2**bits)) for name, bits in FIELD_BITS[op].items()}
    cls = {Op.CONV: Conv, Op.FC: Fc, Op.POOL: Pool, Op.READ: Read, Op.BARRIER: Barrier,
           Op.STATS: Stats}[op]
    return cls(**args)


@pytest.mark.parametrize("seed", range(5))
def test_every_field_round_trips(seed):
    rng = np.random.default_rng(seed)
    for op in (Op.CONV, Op.FC, Op.POOL, Op.READ, Op.BARRIER, Op.STATS):
        for _ in range(20):
            instr = _random_instruction(rng, op)
            words = encode(instr, CONFIG)
            assert len(words) == INSTRUCTION_WORDS, f"seed {seed}"
            assert all(0 <= w < 2**32 for w in words)
            assert decode_header(words) == (op.value, instr.args()), f"seed {seed}: {instr}"


def test_opcode_sits_in_the_low_bits_and_args_follow():
    words = encode(Read(addr=0x1234, count=0xABCD), CONFIG)
    assert words[0] == Op.READ | 0x1234 << 4 | (0xABCD & 0xFFF) << 20
    assert words[1] == 0xABCD >> 12 and words[2:] == [0, 0]


def test_load_payload_follows_the_header():
    load = Load(Space.WEIGHT, addr=3, count=2, payload=[0x0403_0201, 0xF4F3_F2F1])
    words = encode(load, CONFIG)  # 4 x int8 lanes: 32-bit memory words
    assert decode_header(words[:4]) == (Op.LOAD, {"space": 1, "pe": 0, "addr": 3, "count": 2})
    assert words[4:] == [0x0403_0201, 0xF4F3_F2F1]
    spmat = Load(Space.SPMAT, pe=3, addr=0, count=1, payload=[0x1122_3344_5566_7788])
    assert encode(spmat, CONFIG)[4:] == [0x5566_7788, 0x1122_3344]
    program = encode_program([load, Stats(), Raw(0xE)], CONFIG)
    assert program.dtype == np.uint32 and program.size == 6 + 4 + 4
    assert program[-4:].tolist() == [0xE, 0, 0, 0]


def test_output_words_decode():
    words = [output_layout.const({"data": 0xDEADBEEF, "kind": OutputKind.BARRIER}).as_bits(),
             output_layout.const({"data": 7, "kind": OutputKind.STATS}).as_bits(), 5]
    assert decode_output(words) == [(OutKind.BARRIER, 0xDEADBEEF), (OutKind.STATS, 7),
                                    (OutKind.DATA, 5)]
