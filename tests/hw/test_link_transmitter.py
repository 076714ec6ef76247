# amaranth: UnusedElaboratable=no
"""The link transmitter (tessera.hw.link) against the board's definition
(tessera.golden.link.BoardLink), in amaranth.sim: the frames on the line, in order.

Events at chosen cycles (result bytes from the system, the host's ACKs, a new session) go into
both; ACKs and sessions come after the line has been quiet long enough for both to have framed
everything they hold, so the comparison is of behaviour, not of a cycle or two of latency.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.golden.errors import TesseraError
from tessera.golden.link import BoardLink, Deframer, Frame, Kind, encode
from tessera.hw.link import LinkTransmitter

PAYLOAD, WINDOW, RING, BUFFER = 16, 4, 128, 256
RETRANSMIT, FLUSH = 400, 20


def _reference(events, end):
    board = BoardLink(buffer_bytes=BUFFER, max_payload=PAYLOAD, window=WINDOW,
                      retransmit_after=RETRANSMIT, quiet_after=10**9, flush_after=FLUSH)
    now, acks = 0, []
    for cycle, action, value in events:
        board.advance(cycle - now)
        now = cycle
        if action == "emit":
            board.emit(value)
            board.advance(len(value))              # the hardware takes a byte a cycle
            now += len(value)
        elif action == "ack":
            seq = (board._next_seq - 1) % 16 if value is None else value
            acks.append(seq)
            board.receive(encode(Frame(Kind.ACK, seq, b"\xff\xff")))
        elif action == "session":
            board.receive(encode(Frame(Kind.HELLO, 5)))
    board.advance(end - now)
    frames = Deframer(0xFFFF).feed(board.transmit())
    # The reference also answers the host's HELLO; the transmitter does that from its reply
    # stream (tested apart), so leave HELLO answers out.
    return [f for f in frames if not (f.kind == Kind.HELLO and f.seq != 0)], acks


def _hardware(events, acks, end):
    dut = LinkTransmitter(buffer_bytes=BUFFER, max_payload=PAYLOAD, window=WINDOW,
                          results_bytes=RING, retransmit_cycles=RETRANSMIT, flush_cycles=FLUSH)
    out = bytearray()
    acks = list(acks)

    async def system(ctx):
        now = 0
        for cycle, action, value in events:
            if cycle > now:
                await ctx.tick().repeat(cycle - now)
            now = cycle
            if action == "emit":
                for byte in value:
                    ctx.set(dut.i.payload, byte)
                    ctx.set(dut.i.valid, 1)
                    await ctx.tick().until(dut.i.ready)
                    now += 1
                ctx.set(dut.i.valid, 0)
            elif action == "ack":
                ctx.set(dut.peer_ack.valid, 1)
                ctx.set(dut.peer_ack.seq, acks.pop(0))
                await ctx.tick()
                ctx.set(dut.peer_ack.valid, 0)
                now += 1
            elif action == "session":
                ctx.set(dut.new_session, 1)
                await ctx.tick()
                ctx.set(dut.new_session, 0)
                now += 1

    async def line(ctx):
        ctx.set(dut.o.ready, 1)
        for _ in range(end):
            _, _, valid, byte = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                out.append(byte)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(system)
    sim.add_testbench(line)
    sim.run()
    return Deframer(0xFFFF).feed(bytes(out))


def _compare(events, end):
    expected, acks = _reference(events, end)
    got = _hardware(events, acks, end)
    assert got == expected
    return got


def _data(frames):
    return [(f.seq, f.payload) for f in frames if f.kind == Kind.DATA]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bursts_with_prompt_acknowledgements(seed):
    rng = np.random.default_rng(seed)
    events, cycle, sent = [], 10, b""
    for _ in range(12):
        burst = rng.integers(0, 256, int(rng.integers(1, 50)), dtype=np.uint8).tobytes()
        events.append((cycle, "emit", burst))
        sent += burst
        cycle += len(burst) + FLUSH + 6 * (PAYLOAD + 6) + 20     # everything framed and sent
        events.append((cycle, "ack", None))
        cycle += 30
    frames = _compare(events, cycle + 100)
    assert frames[0] == Frame(Kind.HELLO, 0, BUFFER.to_bytes(2, "little"))
    assert b"".join(p for _, p in _data(frames)) == sent
    assert all(len(p) <= PAYLOAD for _, p in _data(frames))


def test_window_and_go_back_n():
    data = bytes(range(6 * PAYLOAD))
    events = [(10, "emit", data)]
    events.append((10 + len(data) + RETRANSMIT + 300, "ack", 1))     # after one retransmission
    events.append((10 + len(data) + 2 * RETRANSMIT + 700, "ack", 5))  # after another
    frames = _compare(events, 10 + len(data) + 3 * RETRANSMIT + 1000)
    seqs = [seq for seq, _ in _data(frames)]
    assert seqs == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 2, 3, 4, 5]


def test_new_session_drops_what_was_not_acknowledged():
    events = [(10, "emit", bytes(40)), (300, "session", None),
              (400, "emit", bytes(range(20))), (600, "ack", None)]
    frames = _compare(events, 900)
    data = _data(frames)
    assert data[-2:] == [(0, bytes(range(16))), (1, bytes(range(16, 20)))]


def test_new_session_as_a_frame_would_start():
    """Regression (found by the formal proof link_tx_stream): a new session strobed in the cycle
    in which the idle transmitter would start a DATA frame dropped the results but sent the
    frame all the same, numbered as the new session's first, from bytes outside the ring's
    live part (which the next results then overwrote while it was on the line)."""
    dut = LinkTransmitter(buffer_bytes=BUFFER, max_payload=PAYLOAD, window=WINDOW,
                          results_bytes=RING, retransmit_cycles=RETRANSMIT, flush_cycles=FLUSH)
    out = bytearray()

    async def bench(ctx):
        async def cycle():
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                out.append(ctx.get(dut.o.payload))
            await ctx.tick()

        ctx.set(dut.o.ready, 0)                   # the HELLO out of reset waits on the line
        ctx.set(dut.i.valid, 1)
        for byte in range(PAYLOAD):               # a whole frame's worth of results
            ctx.set(dut.i.payload, byte)
            await cycle()
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.o.ready, 1)
        while len(out) < 8:                       # the HELLO's 8 bytes go
            await cycle()
        ctx.set(dut.new_session, 1)               # idle now, a frame ready to start
        await cycle()
        ctx.set(dut.new_session, 0)
        for _ in range(4 * PAYLOAD):
            await cycle()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    frames = Deframer(0xFFFF).feed(bytes(out))
    assert frames == [Frame(Kind.HELLO, 0, BUFFER.to_bytes(2, "little"))]


def test_replies_carry_the_credit_and_the_buffer_size():
    dut = LinkTransmitter(buffer_bytes=BUFFER, max_payload=PAYLOAD, window=WINDOW,
                          results_bytes=RING, retransmit_cycles=RETRANSMIT, flush_cycles=FLUSH)
    out = bytearray()

    async def replies(ctx):
        ctx.set(dut.credit, 1234)
        for kind, seq in ((Kind.ACK, 7), (Kind.HELLO, 9)):
            ctx.set(dut.reply.payload, {"kind": kind, "seq": seq})
            ctx.set(dut.reply.valid, 1)
            await ctx.tick().until(dut.reply.ready)
            ctx.set(dut.reply.valid, 0)

    async def line(ctx):
        ctx.set(dut.o.ready, 1)
        for _ in range(100):
            _, _, valid, byte = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                out.append(byte)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(replies)
    sim.add_testbench(line)
    sim.run()
    assert Deframer(0xFFFF).feed(bytes(out)) == [
        Frame(Kind.HELLO, 0, BUFFER.to_bytes(2, "little")),
        Frame(Kind.ACK, 7, (1234).to_bytes(2, "little")),
        Frame(Kind.HELLO, 9, BUFFER.to_bytes(2, "little")),
    ]


def test_parameters_are_validated():
    with pytest.raises(TesseraError, match=r"^results_bytes must be a power of two, not 100$"):
        LinkTransmitter(results_bytes=100)
    with pytest.raises(TesseraError, match=r"^max_payload must be between 1 and 16, not 17$"):
        LinkTransmitter(results_bytes=64, window=4, max_payload=17)
