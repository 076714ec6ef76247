"""Model-file metadata validated field by field, and declared sizes checked before allocation.

Every file here is crafted inside the test from a small hand-made model (no training): a dense
conv layer, a max-pool layer and a compressed fc layer.
"""

import io
import json
import math
import tracemalloc
import zipfile

import numpy as np
import pytest
from tessera.golden.errors import TesseraError
from tessera.golden.inference import QLayer, QModel
from tessera.golden.modelfile import MAX_WEIGHTS, load, save


def _model(seed=0):
    rng = np.random.default_rng(seed)
    conv_w = rng.integers(-128, 128, size=(4, 9), dtype=np.int8)
    book = np.concatenate([[0], rng.integers(-128, 128, size=15)]).astype(np.int8)
    idx = rng.integers(0, 16, size=(10, 64)) * (rng.random((10, 64)) < 0.3)
    ones = np.ones(4, dtype=np.int64)
    layers = [
        QLayer("conv1", "conv", conv_w, rng.integers(-99, 99, 4, dtype=np.int32),
               ones * 20000, ones * 20, True, (8, 8, 1), 3, 1, 1, weight_scale=np.full(4, 0.1),
               output_scale=0.05),
        QLayer.max_pool("pool1", (8, 8, 4), 2, 2, output_scale=0.05),
        QLayer("fc1", "fc", book[idx], np.zeros(10, dtype=np.int32), np.full(10, 30000),
               np.full(10, 22), False, (64,), codebook=book, indices=idx, output_scale=0.1),
    ]
    return QModel("tiny", (8, 8, 1), 1 / 127, layers)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.npz"
    save(path, _model())
    return path


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _write(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _with_meta(good, out, change):
    arrays = _arrays(good)
    meta = json.loads(arrays["meta"].tobytes())
    change(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return _write(out, arrays)


def _layer(i, key, value):
    def change(meta):
        meta["layers"][i][key] = value
    return change


def test_round_trip_of_the_crafted_model(good):
    model, _ = load(good)
    x = np.random.default_rng(1).integers(-128, 128, size=(5, 8, 8, 1), dtype=np.int8)
    np.testing.assert_array_equal(model.run(x), _model().run(x), strict=True)


META_CASES = [
    # an empty or malformed layer list
    (lambda m: m.update(layers=[]), r"field 'layers' is empty: a model needs at least one layer$"),
    (lambda m: m.update(layers={"fc1": {}}),
     r"field 'layers' must be a list, not \{'fc1': \{\}\}$"),
    (lambda m: m["layers"].__setitem__(0, "conv1"), r"field layers\[0\] must be an object"),
    # non-finite or fractional numbers where integers belong
    (_layer(0, "kernel", math.nan), r"field layers\[0\]\.'kernel' must be an integer, not nan$"),
    (_layer(0, "stride", math.inf), r"field layers\[0\]\.'stride' must be an integer, not inf$"),
    (_layer(1, "kernel", 2.0), r"field layers\[1\]\.'kernel' must be an integer, not 2\.0$"),
    (_layer(0, "in_shape", [8, 8, -math.inf]),
     r"field layers\[0\]\.'in_shape'\[2\] must be an integer, not -inf$"),
    (lambda m: m.update(n_pes=math.nan), r"field 'n_pes' must be an integer, not nan$"),
    (lambda m: m.update(input_scale=math.inf),
     r"field 'input_scale' must be a finite number, not inf$"),
    (_layer(2, "output_scale", math.nan),
     r"field layers\[2\]\.'output_scale' must be a finite number, not nan$"),
    # strings or numbers where booleans belong: "no" must not read as true
    (_layer(0, "relu", "no"), r"field layers\[0\]\.'relu' must be true or false, not 'no'$"),
    (_layer(2, "relu", 1), r"field layers\[2\]\.'relu' must be true or false, not 1$"),
    (_layer(2, "relu", None), r"field layers\[2\]\.'relu' must not be null$"),
    # ranges and choices
    (_layer(0, "padding", -1), r"field layers\[0\]\.'padding' must be between 0 and"),
    (_layer(2, "bits", 9), r"field layers\[2\]\.'bits' must be between 1 and 8, not 9$"),
    (lambda m: m.update(rel_bits=0), r"field 'rel_bits' must be between 1 and 8, not 0$"),
    (_layer(1, "kind", "avgpool"),
     r"field layers\[1\]\.'kind' must be one of 'fc', 'conv', 'maxpool', not 'avgpool'$"),
    (_layer(0, "engine", "gpu"), r"field layers\[0\]\.'engine' must be one of"),
    (_layer(2, "name", "conv1"), r"field layers\[2\]\.'name': a second layer named 'conv1'$"),
    (_layer(0, "name", ""), r"field layers\[0\]\.'name' must not be empty$"),
    (lambda m: m.update(model=7), r"field 'model' must be a string, not 7$"),
    (lambda m: m.update(info=[1]), r"field 'info' must be an object, not \[1\]$"),
    (lambda m: m.update(version=True), r"has model format version True; this tessera reads"),
    # shapes that disagree with each other or with the arrays
    (_layer(0, "shape", [4, 10]), r"layer conv1: weight shape \(4, 9\) is not \(4, 10\)$"),
    (_layer(0, "shape", [4]), r"field layers\[0\]\.'shape' must have 2 entries, not 1$"),
    (_layer(2, "in_shape", [65]), r"field layers\[2\]\.'in_shape' \[65\] does not match "
                                  r"layers\[1\]'s output \[4, 4, 4\]$"),
    (_layer(1, "in_shape", [8, 8, 3]), r"field layers\[1\]\.'in_shape' \[8, 8, 3\] does not "
                                       r"match layers\[0\]'s output \[8, 8, 4\]$"),
    (lambda m: m.update(input_shape=[64]), r"field layers\[0\]\.'in_shape' \[8, 8, 1\] does not "
                                           r"match the model's input_shape \[64\]$"),
    (_layer(0, "weight_scale", [0.1, 0.1]),
     r"field layers\[0\]\.'weight_scale' must have 4 entries, not 2$"),
    (_layer(1, "kernel", 9), r"layer pool1: pool window 9x9 is larger than the 8-wide input"),
    (_layer(2, "shape", [10, 65]), r"col_ptr must have shape"),
    # declared sizes: a layer of 10^9 rows is refused before anything is decoded
    (_layer(2, "shape", [10**9, 64]),
     r"field layers\[2\]\.'shape'\[0\] must be between 1 and 16777216, not 1000000000$"),
    (_layer(2, "shape", [4096, 8192]), rf"layer fc1: shape 4096x8192 declares more than "
                                       rf"{MAX_WEIGHTS} weights$"),
    (_layer(0, "in_shape", [10**9, 10**9, 1]),
     r"field layers\[0\]\.'in_shape'\[0\] must be between 1 and"),
    (lambda m: m.update(input_shape=[4096, 4096, 4096]),
     r"field 'input_shape' declares \[4096, 4096, 4096\], more than"),
]


@pytest.mark.parametrize(("change", "message"), META_CASES)
def test_metadata_is_validated_with_file_and_field_named(good, tmp_path, change, message):
    bad = _with_meta(good, tmp_path / "bad.npz", change)
    with pytest.raises(TesseraError, match=message) as info:
        load(bad)
    text = str(info.value)
    assert "\n" not in text and (text.startswith(f"{bad}: ") or text.startswith(f"{bad} has"))


ARRAY_CASES = [
    (lambda a: a.__setitem__("fc1.bias", np.zeros(11, dtype=np.int32)),
     r"array 'fc1.bias' must have shape \(10,\), not \(11,\)$"),
    (lambda a: a.__setitem__("conv1.bias", np.zeros(4)),
     r"array 'conv1.bias' must be an integer array, not float64$"),
    (lambda a: a.__setitem__("conv1.shift", np.full(4, 48)),
     r"array 'conv1.shift' must hold values between 0 and 47, not 48$"),
    (lambda a: a.__setitem__("fc1.multiplier", np.full(10, 2**64 - 1, dtype=np.uint64)),
     r"array 'fc1.multiplier' must hold values between 0 and 65535, not 18446744073709551615$"),
    (lambda a: a.__setitem__("fc1.codebook", np.zeros(8, dtype=np.int8)),
     r"array 'fc1.codebook' must have shape \(16,\), not \(8,\)$"),
    (lambda a: a.__setitem__("fc1.codebook", np.arange(16) * 100),
     r"array 'fc1.codebook' must hold values between -128 and 127, not 1500$"),
    (lambda a: a.__setitem__("conv1.weight", a["conv1.weight"].astype(np.int16)),
     r"layer conv1: weight must be int8, not int16$"),
    (lambda a: a.pop("fc1.v"), r"missing the array 'fc1.v'$"),
]


@pytest.mark.parametrize(("change", "message"), ARRAY_CASES)
def test_arrays_are_checked_against_the_metadata(good, tmp_path, change, message):
    arrays = _arrays(good)
    change(arrays)
    bad = _write(tmp_path / "bad.npz", arrays)
    with pytest.raises(TesseraError, match=message):
        load(bad)


def _npy_header(shape, dtype="<i8"):
    """The bytes of an .npy header declaring ``shape`` (the data need not follow)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()  # the magic string included


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_declared_array_sizes_are_checked_before_allocation(good, tmp_path):
    with zipfile.ZipFile(good) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    cases = {
        # a header claiming 10^12 int64 elements followed by a few bytes
        "huge": ({**members, "fc1.bias.npy": _npy_header((10**12,)) + b"\0" * 16},
                 r"array 'fc1\.bias' declares 8000000000000 bytes but holds 16 \(the file is "
                 r"corrupt\)$"),
        # a header that claims fewer bytes than the member holds
        "short": ({**members, "fc1.bias.npy": _npy_header((2,)) + b"\0" * 80},
                  r"array 'fc1\.bias' declares 16 bytes but holds 80"),
        # pickled objects are refused from the header, never loaded
        "object": ({**members, "fc1.bias.npy": _npy_header((1,), "|O") + b"\0" * 8},
                   r"array 'fc1\.bias' holds Python objects"),
        "foreign": ({**members, "script.py": b"print(1)"},
                    r"not a tessera model file \(unexpected member 'script\.py'\)$"),
    }
    for name, (content, message) in cases.items():
        path = _zip(tmp_path / f"{name}.npz", content)
        tracemalloc.start()
        try:
            with pytest.raises(TesseraError, match=message):
                load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 20 * 2**20, (name, peak)


def test_a_zip_directory_claiming_a_huge_member_is_refused(good, tmp_path):
    """A member whose uncompressed size is far above what its compressed bytes can expand to."""
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("meta.npy")
    # patch the uncompressed size in meta.npy's central directory record (46 bytes before the
    # name; the size is at offset 24)
    at = data.rfind(b"meta.npy") - 46
    assert data[at : at + 4] == b"PK\x01\x02"
    data[at + 24 : at + 28] = (info.compress_size * 5000).to_bytes(4, "little")
    bad = tmp_path / "bomb.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(TesseraError, match=r"array 'meta' claims \d+ bytes from \d+ compressed "
                                           r"\(the file is corrupt\)$"):
        load(bad)


def test_inputs_that_do_not_fit_the_model_are_refused_in_one_line():
    model = _model()
    assert model.quantize_input(np.zeros((2, 64))).shape == (2, 8, 8, 1)
    for bad in (np.zeros((2, 65)), np.zeros((3, 32)), np.zeros(65)):
        with pytest.raises(TesseraError, match=r"^inputs of \d+ values do not fit the model's "
                                               r"input shape \(8, 8, 1\)$"):
            model.quantize_input(bad)
