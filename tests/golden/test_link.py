"""The link's frames (tessera.golden.link): CRC, encoding, and the receiving rule on a bad line."""

import binascii

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tessera.golden import link
from tessera.golden.errors import TesseraError
from tessera.golden.link import Deframer, Frame, Kind, crc16, encode


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1                        # the catalogue's check value
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 17, 300):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc16(data) == binascii.crc_hqx(data, 0xFFFF)    # an independent implementation


def test_frame_bytes_are_as_documented():
    frame = encode(Frame(Kind.DATA, 5, b"\x01\x02\x03"))
    body = bytes([0x51, 3, 0, 1, 2, 3])
    crc = binascii.crc_hqx(body, 0xFFFF)
    assert frame == bytes([0xA5]) + body + bytes([crc & 0xFF, crc >> 8])
    assert len(encode(Frame(Kind.HELLO, 15))) == link.OVERHEAD_BYTES


frames = st.lists(st.builds(
    lambda kind, seq, payload: Frame(kind, seq, {Kind.DATA: payload, Kind.ACK: payload[:2].ljust(
        2, b"\0"), Kind.HELLO: payload[:2] if len(payload) >= 2 else b""}[kind]),
    st.sampled_from(list(Kind)), st.integers(0, 15), st.binary(max_size=40)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(frames, st.integers(1, 7))
def test_frames_round_trip_in_any_chunks(sent, chunk):
    line = b"".join(encode(f) for f in sent)
    deframer = Deframer(max_payload=40)
    got = []
    for start in range(0, len(line), chunk):
        got += deframer.feed(line[start:start + chunk])
    assert got == sent and deframer.dropped == 0


@settings(max_examples=200, deadline=None)
@given(frames, st.binary(max_size=200))
def test_garbage_then_a_quiet_line_then_frames(sent, garbage):
    """Whatever garbage came before, a quiet line (the receiver's timeout) resynchronizes it."""
    deframer = Deframer(max_payload=40)
    deframer.feed(garbage)
    deframer.timeout()
    assert deframer.feed(b"".join(encode(f) for f in sent)) == sent


def test_every_single_bit_error_is_caught():
    frame = encode(Frame(Kind.DATA, 3, bytes(range(32))))
    for bit in range(8 * len(frame)):
        damaged = bytearray(frame)
        damaged[bit // 8] ^= 1 << (bit % 8)
        deframer = Deframer(max_payload=64)
        got = deframer.feed(bytes(damaged))
        deframer.timeout()
        assert got == [], f"bit {bit} flipped went through"
        # The frame after it is received once the line has been quiet.
        assert deframer.feed(encode(Frame(Kind.HELLO, 4))) == [Frame(Kind.HELLO, 4)]


def test_dropped_and_oversized_frames():
    good = [Frame(Kind.DATA, n, bytes([n] * 5)) for n in range(4)]
    line = [encode(f) for f in good]
    deframer = Deframer(max_payload=8)
    # A dropped byte in frame 1: the receiver waits for one byte more, taking frame 2's SYNC,
    # and drops the result; frame 2 is then not seen either (its SYNC was used up).
    got = deframer.feed(line[0] + line[1][:4] + line[1][5:] + line[2] + line[3])
    assert got == [good[0], good[3]] and deframer.dropped == 1
    deframer = Deframer(max_payload=4)
    assert deframer.feed(b"".join(line)) == [] and deframer.dropped == 4
    assert deframer.feed(encode(Frame(Kind.DATA, 9, b"ok"))) == [Frame(Kind.DATA, 9, b"ok")]


def test_abandoned_frame():
    deframer = Deframer(max_payload=8)
    part = encode(Frame(Kind.DATA, 1, b"abcdef"))[:6]
    assert deframer.feed(part) == []
    deframer.timeout()                                  # the host went away mid-frame
    assert deframer.dropped == 1
    assert deframer.feed(encode(Frame(Kind.HELLO, 0))) == [Frame(Kind.HELLO, 0)]


@pytest.mark.parametrize(("args", "message"), [
    ((Kind.ACK, 0, b"x"), r"^a ACK frame carries 2 bytes of payload, not 1$"),
    ((Kind.HELLO, 0, b"xyz"), r"^a HELLO frame carries 0 or 2 bytes of payload, not 3$"),
    ((Kind.DATA, 16), r"^seq must be between 0 and 15, not 16$"),
    ((7, 0), r"7 is not a valid Kind"),
])
def test_bad_frames_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        Frame(*args)
    with pytest.raises(TesseraError, match=r"^max_payload must be between 1 and 65535, not 0$"):
        Deframer(max_payload=0)
