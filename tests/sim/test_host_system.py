"""The system wire format: layouts built from the ISA; the host encoder packs through them."""

import numpy as np
import pytest
from tessera.golden import isa
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
    assert {m.name: m.value for m in Opcode} == {m.name: m.value for m in isa.Op}
    assert {m.name: m.value for m in SpaceId} == {m.name: m.value for m in isa.Space}
    assert {m.name: m.value for m in OutputKind} == {m.name: m.value for m in isa.OutKind}


def test_header_fits_its_words():
    assert instruction_layout.size <= HEADER_BITS == 32 * isa.INSTRUCTION_WORDS
    assert output_layout.size == 34


def _random_instruction(rng, op):
    args = {name: int(rng.integers(0, 2**bits)) for name, bits in isa.FIELD_BITS[op].items()}
    cls = getattr(isa, op.name.capitalize())          # Conv, Fc, Pool, ...
    return cls(**args)


@pytest.mark.parametrize("seed", range(5))
def test_every_field_round_trips(seed):
    rng = np.random.default_rng(seed)
    for op in (isa.Op.CONV, isa.Op.FC, isa.Op.POOL, isa.Op.READ, isa.Op.BARRIER, isa.Op.STATS):
        for _ in range(20):
            instr = _random_instruction(rng, op)
            words = encode(instr, CONFIG)
            assert len(words) == isa.INSTRUCTION_WORDS, f"seed {seed}"
            assert all(0 <= w < 2**32 for w in words)
            assert decode_header(words) == (op.value, instr.args()), f"seed {seed}: {instr}"


def test_opcode_sits_in_the_low_bits_and_args_follow():
    words = encode(isa.Read(addr=0x1234, count=0xABCD), CONFIG)
    assert words[0] == isa.Op.READ | 0x1234 << 4 | (0xABCD & 0xFFF) << 20
    assert words[1] == 0xABCD >> 12 and words[2:] == [0, 0]


def test_load_payload_follows_the_header():
    load = isa.Load(isa.Space.WEIGHT, addr=3, count=2, payload=[0x0403_0201, 0xF4F3_F2F1])
    words = encode(load, CONFIG)  # 4 x int8 lanes: 32-bit memory words
    assert decode_header(words[:4]) == (isa.Op.LOAD, {"space": 1, "pe": 0, "addr": 3, "count": 2})
    assert words[4:] == [0x0403_0201, 0xF4F3_F2F1]
    spmat = isa.Load(isa.Space.SPMAT, pe=3, addr=0, count=1, payload=[0x1122_3344_5566_7788])
    assert encode(spmat, CONFIG)[4:] == [0x5566_7788, 0x1122_3344]
    program = encode_program([load, isa.Stats(), isa.Raw(0xE)], CONFIG)
    assert program.dtype == np.uint32 and program.size == 6 + 4 + 4
    assert program[-4:].tolist() == [0xE, 0, 0, 0]


def test_output_words_decode():
    words = [output_layout.const({"data": 0xDEADBEEF, "kind": OutputKind.BARRIER}).as_bits(),
             output_layout.const({"data": 7, "kind": OutputKind.STATS}).as_bits(), 5]
    assert decode_output(words) == [(isa.OutKind.BARRIER, 0xDEADBEEF), (isa.OutKind.STATS, 7),
                                    (isa.OutKind.DATA, 5)]
