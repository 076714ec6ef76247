"""cocotb testbench of the board link, bit by bit through the UART pins: a host session, command
frames (one damaged, one repeated), and the answers, against the definition (golden.link)."""

import cocotb
from cocotb.triggers import ClockCycles
from tessera.golden.link import Deframer, Frame, Kind, encode
from tessera.sim import tb
from tessera.sim.uart import attach


@cocotb.test()
async def session(dut):
    p = tb.params()
    divisor, payload = p["divisor"], p["max_payload"]
    source, sink = await attach(dut, divisor)
    rng = tb.rng()
    frame_bits = 10 * divisor

    async def frames_after(count, quiet_frames=4):
        """Wait until ``count`` frames came back and the line has been quiet a while."""
        seen = -1
        for _ in range(400):
            await ClockCycles(dut.clk, quiet_frames * frame_bits)
            got = Deframer(0xFFFF).feed(bytes(sink.received))
            if len(got) >= count and len(sink.received) == seen:
                return got
            seen = len(sink.received)
        raise AssertionError(f"fewer than {count} frames came back (seed {cocotb.RANDOM_SEED})")

    await source.write(encode(Frame(Kind.HELLO, 6)))
    got = await frames_after(2)
    assert got[:2] == [Frame(Kind.HELLO, 0, p["buffer_bytes"].to_bytes(2, "little")),
                       Frame(Kind.HELLO, 6, p["buffer_bytes"].to_bytes(2, "little"))], got

    commands = [bytes(rng.integers(0, 256, int(rng.integers(1, payload + 1))).tolist())
                for _ in range(4)]
    damaged = bytearray(encode(Frame(Kind.DATA, 1, commands[1])))
    damaged[5] ^= 0x10
    line = (encode(Frame(Kind.DATA, 0, commands[0])) + bytes(damaged)
            + encode(Frame(Kind.DATA, 0, commands[0])))          # a retransmission of 0
    await source.write(line)
    await ClockCycles(dut.clk, 3 * p["quiet_cycles"])             # the receiver resynchronizes
    await source.write(b"".join(encode(Frame(Kind.DATA, n, commands[n])) for n in (1, 2, 3)))
    answer = bytes(b ^ 0x5A for b in b"".join(commands))
    got = await frames_after(2 + 6)
    acks = [f.seq for f in got if f.kind == Kind.ACK]
    assert acks == [0, 0, 1, 2, 3], f"ACKs {acks} (seed {cocotb.RANDOM_SEED})"
    data = [f for f in got if f.kind == Kind.DATA]
    assert b"".join(f.payload for f in data) == answer, f"seed {cocotb.RANDOM_SEED}"
    # Acknowledge the results; nothing more must come back.
    await source.write(encode(Frame(Kind.ACK, data[-1].seq, b"\xff\xff")))
    before = len(sink.received)
    await ClockCycles(dut.clk, 3 * p["retransmit_cycles"])
    assert len(sink.received) == before, "results sent again after their ACK"
    tb.report(commands=len(b"".join(commands)), frames=len(data))
