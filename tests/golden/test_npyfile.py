"""The one loader (tessera.golden.npyfile): exact for every valid file, one line for every bad
one, and never an allocation larger than what the file really holds or the budget allows."""

import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from tessera.golden.errors import TesseraError
from tessera.golden.npyfile import read_npy, read_npz


def header(shape, descr="<i8", fortran=False, extra=b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran,
                                               "shape": shape})
    return buf.getvalue() + extra


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.int8).reshape(3, 4),
    np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4)),
    np.array([2**64 - 1, 0], dtype=np.uint64),
    np.zeros((0, 5), dtype=np.int16),
    np.array(7, dtype=np.int64),
    np.linspace(0, 1, 7).astype(">f8"),
    np.array([True, False]),
])
def test_valid_files_read_exactly_as_numpy_does(tmp_path, array):
    path = tmp_path / "a.npy"
    np.save(path, array)
    got = read_npy(path, "a")
    want = np.load(path, allow_pickle=False)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)
    got.flat[:0] = 0   # writable


def test_version_2_headers_are_read(tmp_path):
    path = tmp_path / "v2.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, np.arange(5, dtype=np.int8), version=(2, 0))
    assert read_npy(path).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty (0 bytes)"),
    (b"\x93NUM", "header is missing or damaged"),
    (b"\x93NUMPY\x01\x00", "header is missing or damaged"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr'", "header is missing or damaged"),
    (b"\x93NUMPY\x03\x00", "format version (3, 0)"),
    (b"\x93NUMPY\x09\x00", "format version (9, 0)"),
    (b"PK\x03\x04rest", "is an .npz archive"),
    (b"hello world, not numpy", "header is missing or damaged"),
    (header((3,), extra=b"\x00" * 23), "ends early: its header declares 24 bytes"),
    (header((3,), extra=b"\x00" * 25), "1 bytes follow"),
    (header((2, -3)), "negative size"),
    (header((2,), descr="|O"), "Python objects"),
    (header((2,), descr=[("a", "<i4"), ("b", "|O")]), "Python objects"),
])
def test_bad_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(TesseraError) as info:
        read_npy(path, "W")
    text = str(info.value)
    assert "\n" not in text and message in text and text.startswith("W ('"), text


def test_missing_and_folder(tmp_path):
    with pytest.raises(TesseraError, match="no such file"):
        read_npy(tmp_path / "nope.npy", "x")
    with pytest.raises(TesseraError, match="is a directory"):
        read_npy(tmp_path, "x")


@pytest.mark.parametrize("shape", [(10**12,), (10**6, 10**6), (2**62, 4), (2**40, 0, 2**40)])
def test_a_lying_header_allocates_nothing(tmp_path, shape):
    """A header that declares up to 8 * 2**64 bytes, a few bytes of data: refused, and the
    peak allocation while refusing it stays under 1 MiB."""
    path = tmp_path / "lie.npy"
    path.write_bytes(header(shape, extra=b"\x01" * 100))
    tracemalloc.start()
    try:
        with pytest.raises(TesseraError):
            read_npy(path, "A")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak


def test_the_budget_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.zeros(500_000, dtype=np.int8))
    tracemalloc.start()
    try:
        with pytest.raises(TesseraError, match=r"declares 500,000 elements.*more than the 4,999"):
            read_npy(path, "x", max_elements=4999)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000
    assert read_npy(path, "x", max_elements=500_000).size == 500_000


def test_a_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npy"
    np.save(path, np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(TesseraError, match="never loads pickled"):
        read_npy(path)
    archive = tmp_path / "evil.npz"
    np.savez(archive, a=np.array([Payload()], dtype=object))
    with pytest.raises(TesseraError, match="never loads pickled"):
        read_npz(archive)
    assert not marker.exists()


# -- .npz -----------------------------------------------------------------------------------------

def test_npz_round_trip(tmp_path):
    arrays = {"a": np.arange(10, dtype=np.int16), "b.c": np.eye(3), "meta": np.frombuffer(
        b'{"x": 1}', dtype=np.uint8)}
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, **arrays)
        got = read_npz(path)
        assert sorted(got) == sorted(arrays)
        for key, value in arrays.items():
            assert got[key].dtype == value.dtype and np.array_equal(got[key], value)


@pytest.mark.parametrize("cut", [0, 10, 100, -30, -1])
def test_truncated_npz_is_one_line(tmp_path, cut):
    path = tmp_path / "m.npz"
    np.savez_compressed(path, a=np.arange(1000), b=np.ones(50))
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut > 0 else data[:len(data) + cut] if cut else b"")
    with pytest.raises(TesseraError) as info:
        read_npz(path, "model")
    assert "\n" not in str(info.value)


def test_npz_member_that_lies_about_its_size(tmp_path):
    """The zip entry and the .npy header agree on 8 TB; the compressed stream is tiny."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", header((10**12,), extra=b"\x00" * 64))
    tracemalloc.start()
    try:
        with pytest.raises(TesseraError, match="ends early"):
            read_npz(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_npz_budget(tmp_path):
    """An honest member larger than the budget (a zip bomb of zeros): refused before reading."""
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, a=np.zeros(2**21, dtype=np.int8))
    assert path.stat().st_size < 20_000
    with pytest.raises(TesseraError, match="more than the 1,000,000 tessera reads"):
        read_npz(path, max_bytes=1_000_000)
    assert read_npz(path, max_bytes=2**21)["a"].size == 2**21


def test_npz_with_a_flipped_byte_is_one_line(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, a=np.arange(100, dtype=np.int64))
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF           # inside a's data: the CRC check refuses it
    path.write_bytes(bytes(data))
    with pytest.raises(TesseraError, match=r"cannot be read|damaged|not a NumPy"):
        read_npz(path)
