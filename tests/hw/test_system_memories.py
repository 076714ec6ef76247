# amaranth: UnusedElaboratable=no
"""The system's memories and payload unpacker with amaranth.sim, against golden and their
documented timing: ActivationMemory, WeightMemory, PayloadUnpacker; and one handshake of the
CommandProcessor that the end-to-end tests cannot reach (an engine not ready for a command)."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.golden.errors import TesseraError
from tessera.golden.isa import pack_payload, payload_words
from tessera.hw.system.actmem import ActivationMemory
from tessera.hw.system.unpack import PayloadUnpacker
from tessera.hw.system.weightmem import WeightMemory


def _simulate(dut, *benches):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in benches:
        sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize(("seed", "write_lanes"), [(0, 4), (1, 4), (2, 8), (3, 16), (4, 5),
                                                   (5, 1)])
def test_activation_memory_is_a_byte_array(seed, write_lanes):
    """Random masked writes of ``write_lanes`` bytes (four: a LOAD's word; eight, sixteen:
    a systolic result word; five: banks past the lanes) and random gathers, against a NumPy
    byte array: every lane reads any address with one cycle of latency, holds while ``r_en``
    is low, and a read in the cycle of a write to the same address returns the old value."""
    rng = np.random.default_rng(seed)
    depth, lanes = 64 + 4 * int(rng.integers(0, 8)), int(rng.integers(1, 9))
    dut = ActivationMemory(depth=depth, lanes=lanes, write_lanes=write_lanes)
    assert dut.banks == {1: 1, 4: 4, 5: 8, 8: 8, 16: 16}[write_lanes]
    model = np.zeros(depth, dtype=np.int8)

    async def bench(ctx):
        expected = None
        for step in range(300):
            write = rng.random() < 0.5
            read = rng.random() < 0.7
            addr = int(rng.integers(0, depth - write_lanes + 1))
            values = rng.integers(-128, 128, write_lanes).astype(np.int8)
            mask = int(rng.integers(0, 2**write_lanes))
            gather = rng.integers(0, depth, lanes)
            ctx.set(dut.w_en, write)
            ctx.set(dut.w_addr, addr)
            ctx.set(dut.w_data, [int(v) for v in values])
            ctx.set(dut.w_mask, mask)
            ctx.set(dut.r_en, read)
            ctx.set(dut.r_addr, [int(a) for a in gather])
            if read:
                sampled = model[gather].copy()          # before this cycle's write
            await ctx.tick()
            if write:
                for i in range(write_lanes):
                    if mask >> i & 1:
                        model[addr + i] = values[i]
            if read:
                expected = sampled
            if expected is not None:
                got = [ctx.get(dut.r_data[i]) for i in range(lanes)]
                assert got == expected.tolist(), f"seed {seed}, step {step}"

    _simulate(dut, bench)


def test_activation_memory_refuses_bad_parameters():
    with pytest.raises(TesseraError, match=r"^depth must be between 16 and 65536, not 8$"):
        ActivationMemory(depth=8, lanes=4)
    with pytest.raises(TesseraError, match=r"^lanes must be between 1 and 64, not 0$"):
        ActivationMemory(depth=64, lanes=0)
    with pytest.raises(TesseraError, match=r"^write_lanes must be between 1 and 64, not 65$"):
        ActivationMemory(depth=64, lanes=1, write_lanes=65)
    with pytest.raises(TesseraError, match=r"^bits must be between 1 and 128, not 0$"):
        PayloadUnpacker(bits=0)


@pytest.mark.parametrize("ready_seed", [None, 1, 2])
def test_weight_memory_streams_a_range(ready_seed):
    """Words written, then a range streamed out: with the command at edge 0 the words transfer
    at edges 2, 3, ... without back-pressure; nothing lost or repeated under back-pressure."""
    rng = np.random.default_rng(ready_seed or 0)
    depth = 40
    dut = WeightMemory(shape=24, depth=depth)
    words = rng.integers(0, 2**24, depth)
    base, count = 5, 30
    got, edges = [], []

    async def writer(ctx):
        for a, w in enumerate(words):
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_addr, a)
            ctx.set(dut.w_data, int(w))
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        ctx.set(dut.cmd.payload, {"base": base, "count": count})
        ctx.set(dut.cmd.valid, 1)
        await ctx.tick()                               # edge 0: the command
        ctx.set(dut.cmd.valid, 0)
        edge = 0
        pause = np.random.default_rng(ready_seed).random(10_000) < 0.5 if ready_seed else None
        while len(got) < count:
            ready = pause is None or not pause[edge]
            ctx.set(dut.o.ready, ready)
            if ctx.get(dut.o.valid) and ready:
                got.append(ctx.get(dut.o.payload))
                edges.append(edge + 1)
            await ctx.tick()
            edge += 1
            assert edge < 1000
        ctx.set(dut.o.ready, 0)
        await ctx.tick()
        assert not ctx.get(dut.busy) and not ctx.get(dut.o.valid)

    _simulate(dut, writer)
    assert got == words[base:base + count].tolist()
    if ready_seed is None:
        assert edges == list(range(2, count + 2))


@pytest.mark.parametrize(("bits", "lanes"), [(8, 4), (8, 1), (54, 1), (64, 1), (32, 1), (5, 1),
                                             (16, 1), (100, 1)])
@pytest.mark.parametrize("count", [0, 1, 7, 13])
def test_unpacker_is_pack_payload_inverted(bits, lanes, count):
    """Every memory word of :func:`pack_payload`, exactly ``payload_words`` taken, the last
    transfer at edge ``1 + max(P, W)`` after the command, idle after it."""
    rng = np.random.default_rng(bits * 100 + count)
    words = [int(w) for w in rng.integers(0, 2**min(bits, 62), count)]
    payload = pack_payload(words, bits)
    dut = PayloadUnpacker(bits=bits, lanes=lanes)
    got, taken = [], []
    result = {}

    async def bench(ctx):
        ctx.set(dut.cmd.payload, count)
        ctx.set(dut.cmd.valid, 1)
        await ctx.tick()                               # edge 0
        ctx.set(dut.cmd.valid, 0)
        ctx.set(dut.o.ready, 1)
        edge, last = 0, 0
        while edge < 10 + 2 * (len(payload) + count):
            ctx.set(dut.i.valid, len(taken) < len(payload))
            ctx.set(dut.i.payload, payload[len(taken)] if len(taken) < len(payload) else 0)
            took = ctx.get(dut.i.valid) and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                n = ctx.get(dut.o.payload.n)
                got.extend(ctx.get(dut.o.payload.data[j]) for j in range(n))
                last = edge + 1
            await ctx.tick()
            edge += 1
            if took:
                taken.append(edge)
            if not ctx.get(dut.busy) and "idle" not in result:
                result["idle"] = edge
        result["last"] = last

    _simulate(dut, bench)
    assert got == words
    assert len(taken) == payload_words(count, bits)
    writes = -(-count // lanes)
    if count:
        assert result["last"] == 1 + max(len(payload), writes)
        assert result["idle"] == result["last"]


def test_processor_holds_a_conv_command_until_the_engine_takes_it():
    """A CONV header decoded while the systolic engine is not ready: ``gemm_cmd`` stays valid,
    its payload unchanged, until ``ready``, and goes out once (the stream rule that
    ``processor_stream`` in tests/formal proves; before it, the command was offered for one
    cycle only). Whatever the engine does afterwards is not modelled here."""
    from tessera.golden.executor import CHECK_CYCLES
    from tessera.golden.isa import Conv
    from tessera.golden.system_config import SparseConfig, SystemConfig, SystolicConfig
    from tessera.hw.system.processor import CommandProcessor
    from tessera.sim.host.system import encode

    config = SystemConfig(systolic=SystolicConfig(rows=2, cols=2, max_m=8, max_k=8, max_n=8),
                          sparse=SparseConfig(n_pes=1), act_depth=64, weight_depth=8,
                          qparam_depth=4, stats_depth=2)
    dut = CommandProcessor(config)
    words = encode(Conv(in_base=0, out_base=32, w_base=0, q_base=0, h=2, w=2, c=1, oc=2,
                        rows=2), config)
    wait = 5

    async def bench(ctx):
        ctx.set(dut.gemm_cmd.ready, 0)
        for word in words:
            ctx.set(dut.cmd.valid, 1)
            ctx.set(dut.cmd.payload, word)
            await ctx.tick().until(dut.cmd.ready)
        ctx.set(dut.cmd.valid, 0)
        for _ in range(CHECK_CYCLES):       # the header check's last stage
            await ctx.delay(1e-9)
            assert not ctx.get(dut.gemm_cmd.valid), "a command offered before the check"
            await ctx.tick()
        offered = []
        for _ in range(wait):
            await ctx.delay(1e-9)
            offered.append((ctx.get(dut.gemm_cmd.valid), ctx.get(dut.gemm_cmd.payload.as_value())))
            await ctx.tick()
        ctx.set(dut.gemm_cmd.ready, 1)
        taken = 0
        for _ in range(4):
            await ctx.delay(1e-9)
            taken += ctx.get(dut.gemm_cmd.valid)
            await ctx.tick()
        assert offered[0][0] == 1, "no command offered after the CONV header"
        assert offered == [offered[0]] * wait, f"the command changed or left unasked: {offered}"
        assert taken == 1, f"the command went out {taken} times once the engine was ready"

    _simulate(dut, bench)
