# amaranth: UnusedElaboratable=no
"""The link receiver (tessera.hw.link) against the board's definition
(tessera.golden.link.BoardLink), byte for byte, in amaranth.sim.

A host's line (sessions, in- and out-of-sequence DATA frames, ACKs, garbage, corrupted,
truncated and oversized frames, quiet spells) goes into both; the command bytes, the replies
(kind and seq), the host's ACKs passed on and the dropped-frame count must be equal.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.golden.errors import TesseraError
from tessera.golden.link import BoardLink, Deframer, Frame, Kind, encode
from tessera.hw.link import LinkReceiver

QUIET = 40          # cycles of quiet line that abandon a frame


def _scenario(rng, max_payload):
    """A host's line: a list of (bytes, idle cycles after them)."""
    def data(seq, n):
        return encode(Frame(Kind.DATA, seq % 16, rng.integers(0, 256, n, dtype=np.uint8)
                            .tobytes()))

    line = [(encode(Frame(Kind.HELLO, 3)), 5)]
    seq = 0
    for step in range(40):
        choice = rng.integers(0, 10)
        if choice < 5:                                   # the next frame
            line.append((data(seq, int(rng.integers(1, max_payload + 1))), 3))
            seq += 1
        elif choice == 5:                                # a retransmission of an old frame
            line.append((data(seq - 1, 5), 3))
        elif choice == 6:                                # a frame from the future
            line.append((data(seq + 2, 5), 3))
        elif choice == 7:                                # the host acknowledges results
            line.append((encode(Frame(Kind.ACK, step % 16, b"\xff\xff")), 3))
        elif choice == 8:                                # garbage, then a quiet line
            line.append((rng.integers(0, 256, int(rng.integers(1, 30)), dtype=np.uint8)
                         .tobytes(), 2 * QUIET))
        else:                                            # a damaged frame
            frame = bytearray(data(seq, 8))
            kind = rng.integers(0, 4)
            if kind == 0:
                frame[int(rng.integers(1, len(frame)))] ^= 1 << int(rng.integers(0, 8))
            elif kind == 1:
                frame = frame[:int(rng.integers(2, len(frame)))]     # host vanishes
            elif kind == 2:
                frame = bytearray(encode(Frame(Kind.DATA, seq % 16, bytes(max_payload + 1))))
            else:
                frame[1] = (frame[1] & 0xF0) | 7                    # an unknown kind
            line.append((bytes(frame), 2 * QUIET))
    line.append((encode(Frame(Kind.HELLO, 9)), 3))              # a new session
    line.append((data(0, 4), 3))
    return line


def _reference(line, buffer_bytes, max_payload):
    board = BoardLink(buffer_bytes=buffer_bytes, max_payload=max_payload, window=4,
                      retransmit_after=float("inf"), quiet_after=QUIET)
    board.transmit()                                   # the HELLO out of reset: not the receiver's
    deframer, peer_acks, replies = Deframer(max_payload), [], []
    for chunk, idle in line:
        for byte in chunk:
            board.receive(bytes([byte]))
            peer_acks += [f.seq for f in deframer.feed(bytes([byte])) if f.kind == Kind.ACK]
            board.advance(1)
        board.advance(idle)
        if idle >= QUIET:
            deframer.timeout()
        board.consume(board.buffered)                  # the system takes every command
    for frame in Deframer(0xFFFF).feed(board.transmit()):
        replies.append((int(frame.kind), frame.seq))
    return bytes(board.commands), replies, peer_acks, board._deframer.dropped


def _hardware(line, buffer_bytes, max_payload):
    dut = LinkReceiver(buffer_bytes=buffer_bytes, max_payload=max_payload, quiet_cycles=QUIET)
    commands, replies, peer_acks, dropped = bytearray(), [], [], [None]
    total = sum(len(chunk) * 2 + idle for chunk, idle in line) + 50

    async def host(ctx):
        for chunk, idle in line:
            for byte in chunk:
                ctx.set(dut.i.payload, byte)
                ctx.set(dut.i.valid, 1)
                await ctx.tick()
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            await ctx.tick().repeat(idle)

    async def system(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.reply.ready, 1)
        for _ in range(total):
            _, _, o_valid, payload, r_valid, reply, ack = await ctx.tick().sample(
                dut.o.valid, dut.o.payload, dut.reply.valid, dut.reply.payload, dut.peer_ack)
            if o_valid:
                commands.append(payload)
            if r_valid:
                replies.append((reply.kind, reply.seq))
            if ack.valid:
                peer_acks.append(ack.seq)
        dropped[0] = ctx.get(dut.dropped)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(system)
    sim.run()
    return bytes(commands), replies, peer_acks, dropped[0]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_receiver_matches_the_definition(seed):
    rng = np.random.default_rng(seed)
    line = _scenario(rng, max_payload=24)
    expected = _reference(line, 64, 24)
    got = _hardware(line, 64, 24)
    assert got[0] == expected[0], f"commands differ (seed {seed})"
    assert got[1] == expected[1], f"replies differ (seed {seed})"
    assert got[2] == expected[2], f"host ACKs differ (seed {seed})"
    assert got[3] == expected[3], f"dropped frames differ (seed {seed})"
    assert len(expected[0]) > 0 and any(k == Kind.HELLO for k, _ in expected[1])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"buffer_bytes": 100}, r"^buffer_bytes must be a power of two, not 100$"),
    ({"buffer_bytes": 64, "max_payload": 65}, r"^max_payload must be between 1 and 64, not 65$"),
    ({"quiet_cycles": 1}, r"^quiet_cycles must be between 2 and 16777216, not 1$"),
])
def test_parameters_are_validated(kwargs, message):
    with pytest.raises(TesseraError, match=message):
        LinkReceiver(**kwargs)


def test_full_buffer_then_credit_announced():
    """A system that stops taking commands: a frame that does not fit is not taken (the last
    one is acknowledged again); once the system drains the buffer, the credit is announced
    with an unasked ACK, as the definition says."""
    rng = np.random.default_rng(7)
    payloads = [rng.integers(0, 256, 24, dtype=np.uint8).tobytes() for _ in range(3)]
    line = b"".join(encode(Frame(Kind.DATA, n, p)) for n, p in enumerate(payloads))
    dut = LinkReceiver(buffer_bytes=64, max_payload=24, quiet_cycles=QUIET)
    commands, replies = bytearray(), []
    release = 2 * len(line) + 10

    async def host(ctx):
        for byte in line:
            ctx.set(dut.i.payload, byte)
            ctx.set(dut.i.valid, 1)
            await ctx.tick()
            ctx.set(dut.i.valid, 0)
            await ctx.tick()

    async def system(ctx):
        ctx.set(dut.reply.ready, 1)
        for cycle in range(release + 3 * QUIET):
            ctx.set(dut.o.ready, int(cycle >= release))
            _, _, o_valid, o_ready, payload, r_valid, reply = await ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload, dut.reply.valid, dut.reply.payload)
            if o_valid and o_ready:
                commands.append(payload)
            if r_valid:
                replies.append((cycle >= release, reply.kind, reply.seq))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(system)
    sim.run()

    board = BoardLink(buffer_bytes=64, max_payload=24, retransmit_after=float("inf"),
                      quiet_after=QUIET)
    board.transmit()
    board.receive(line)
    before = [(False, int(f.kind), f.seq) for f in Deframer(64).feed(board.transmit())]
    board.consume(board.buffered)
    board.advance(QUIET)
    after = [(True, int(f.kind), f.seq) for f in Deframer(64).feed(board.transmit())]
    assert before == [(False, Kind.ACK, 0), (False, Kind.ACK, 1), (False, Kind.ACK, 1)]
    assert after == [(True, Kind.ACK, 1)]
    assert replies == before + after
    assert bytes(commands) == bytes(board.commands) == payloads[0] + payloads[1]
