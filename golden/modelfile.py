"""The compressed model file: versioned, self-describing, and everything needed to run the model.

Format (version 2; version 1 is the same without the ``maxpool`` kind)
----------------------------------------------------------------------
A NumPy ``.npz`` archive (a zip of ``.npy`` arrays; read with ``allow_pickle=False``, so a file can
never execute code) holding:

- ``meta``: a uint8 array with UTF-8 JSON::

      {"format": "tessera-model", "version": 1,
       "model": "mlp", "input_shape": [64], "input_scale": 0.00787,
       "n_pes": 4, "rel_bits": 4, "ptr_bits": 16,
       "layers": [{"name": "fc1", "kind": "fc", "shape": [300, 64], "relu": true,
                   "in_shape": [64], "kernel": 1, "stride": 1, "padding": 0,
                   "engine": "sparse", "bits": 4, "output_scale": 0.05,
                   "weight_scale": [...]},
                  {"name": "pool1", "kind": "maxpool", "in_shape": [8, 8, 8],
                   "kernel": 2, "stride": 2, "engine": "pool", "output_scale": 0.05}, ...],
       "info": {...}}            # free-form: accuracies, settings, ratios at compression time

  Every layer has ``name``, ``kind``, ``engine``, ``in_shape`` and ``output_scale``; the other
  fields are the kind's (:attr:`tessera.golden.layers.LayerKind.fields`, with their types and
  ranges). A file is written with the lowest version that holds its kinds, so a model without
  pooling is a version-1 file that older tessera releases read.

- per weighted layer ``<name>.bias`` (int32), ``<name>.multiplier`` and ``<name>.shift`` (int64,
  one per output channel), and either the EIE encoding of a compressed layer,
  ``<name>.codebook`` (int8, ``2**bits``), ``<name>.v``, ``<name>.z`` (uint8 entries of all PEs,
  PE by PE) and ``<name>.col_ptr`` (int64, ``(n_pes, cols + 1)``), or a dense ``<name>.weight``
  (int8). A ``maxpool`` layer has no arrays.

:func:`load` checks the format name, the version and every field's type and range, that each
layer's input is the previous layer's output, and each array's size against the file's real
length *before* reading it (at most :data:`MAX_ARRAY_BYTES` in all) and against the declared
shapes (at most :data:`MAX_WEIGHTS` weights per layer); it rebuilds the EIE matrices (whose
constructor validates pointers, widths and row ranges) and returns the same
:class:`~tessera.golden.inference.QModel`. A missing, truncated, corrupt or foreign file, another
version, a missing field or a field of the wrong type or range is a one-line
:class:`~tessera.golden.errors.TesseraError` that names the file and the field.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from .eie import MAX_INDEX_BITS, MAX_REL_BITS, EIEMatrix, decode_indices
from .errors import TesseraError, check_int_array
from .inference import QLayer, QModel
from .layers import KINDS, MAX_DIM, Field
from .quant import INT32_MAX, INT32_MIN, MAX_MULTIPLIER, MAX_SHIFT

__all__ = ["FORMAT", "MAX_ARRAY_BYTES", "MAX_WEIGHTS", "READS", "VERSION", "load", "save"]

FORMAT = "tessera-model"
#: The newest format version this tessera writes (it writes the lowest one a model needs).
VERSION = 2
#: The format versions this tessera reads.
READS = (1, 2)
#: The most array bytes a model file may declare in all (far above any model tessera makes).
MAX_ARRAY_BYTES = 256 * 2**20
#: The most weights one layer may declare (its dense int64 decoding is 8 bytes a weight).
MAX_WEIGHTS = 2**24
# Deflate expands at most about 1032 times; a member claiming more is corrupt.
_MAX_RATIO = 1100

def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model file")


def save(path, model, *, info=None):
    """Write a :class:`~tessera.golden.inference.QModel` to ``path`` (``.npz``).

    Compressed layers are stored in EIE format with the model's ``n_pes`` and ``rel_bits``.
    ``info`` is a JSON-serialisable dict kept alongside (accuracies, settings). The file's version
    is the lowest that holds every layer's kind.
    """
    arrays, layers = {}, []
    for layer in model.layers:
        entry = {
            "name": layer.name, "kind": layer.kind.name, "in_shape": list(layer.in_shape),
            "engine": layer.engine, "output_scale": float(layer.output_scale),
            **layer.kind.file_fields(layer),
        }
        layers.append(entry)
        if not layer.kind.weighted:
            continue
        arrays[f"{layer.name}.bias"] = np.asarray(layer.bias, dtype=np.int32)
        arrays[f"{layer.name}.multiplier"] = np.asarray(layer.multiplier, dtype=np.int64)
        arrays[f"{layer.name}.shift"] = np.asarray(layer.shift, dtype=np.int64)
        if layer.codebook is not None:
            matrix = model.eie(layer)
            arrays[f"{layer.name}.codebook"] = np.asarray(layer.codebook, dtype=np.int8)
            arrays[f"{layer.name}.v"] = matrix.v
            arrays[f"{layer.name}.z"] = matrix.z
            arrays[f"{layer.name}.col_ptr"] = matrix.col_ptr
        else:
            arrays[f"{layer.name}.weight"] = np.asarray(layer.weight, dtype=np.int8)
    meta = {
        "format": FORMAT, "version": max([1] + [layer.kind.version for layer in model.layers]),
        "model": model.name,
        "input_shape": list(model.input_shape), "input_scale": float(model.input_scale),
        "n_pes": model.n_pes, "rel_bits": model.rel_bits, "ptr_bits": model.ptr_bits,
        "layers": layers, "info": info or {},
    }
    text = json.dumps(meta, default=_json_default, sort_keys=True)
    arrays["meta"] = np.frombuffer(text.encode(), dtype=np.uint8)
    path = Path(path)
    with open(path, "wb") as f:  # np.savez would append ".npz" to a name without it
        np.savez_compressed(f, **arrays)


def _read_arrays(path):
    """Read every ``.npy`` member of the archive, checking each declared size first.

    A member's header declares its shape; the declared bytes must equal what the zip directory
    says the member holds, which deflate bounds by the member's real compressed length, and all
    of them together stay under :data:`MAX_ARRAY_BYTES`. Only then is anything allocated.
    """
    arrays, total = {}, 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise TesseraError(f"{path} is not a tessera model file "
                                   f"(unexpected member {info.filename!r})")
            key = info.filename[: -len(".npy")]
            if info.file_size > _MAX_RATIO * info.compress_size + 4096:
                raise TesseraError(f"{path}: array {key!r} claims {info.file_size} bytes from "
                                   f"{info.compress_size} compressed (the file is corrupt)")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                if dtype.hasobject:
                    raise TesseraError(f"{path}: array {key!r} holds Python objects, which a "
                                       f"model file never does (refused without loading)")
                declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if declared != info.file_size - member.tell():
                    raise TesseraError(
                        f"{path}: array {key!r} declares {declared} bytes but holds "
                        f"{info.file_size - member.tell()} (the file is corrupt)")
                total += declared
                if total > MAX_ARRAY_BYTES:
                    raise TesseraError(f"{path}: the arrays declare more than {MAX_ARRAY_BYTES} "
                                       f"bytes, more than any tessera model holds")
            with archive.open(info) as member:
                arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def load(path):
    """Read a model file written by :func:`save`.

    Returns
    -------
    (model, info) : (QModel, dict)

    Raises
    ------
    TesseraError
        If the file is missing or unreadable, is not a tessera model, has a format version this
        tessera does not read, lacks a field, has a field of the wrong type or out of range
        (named in the message), declares sizes its arrays do not have, or holds inconsistent
        data. ``OSError`` is turned into the same one-line error.
    """
    path = Path(path)
    if not path.exists():
        raise TesseraError(f"no such model file: {path}")
    if path.is_dir():
        raise TesseraError(f"{path} is a directory, not a model file")
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as f:
                if f.read(6) == b"\x93NUMPY":
                    raise TesseraError(
                        f"{path} is not a tessera model file (not an .npz archive)")
            raise ValueError("not a zip archive")
        arrays = _read_arrays(path)
    except TesseraError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        kind = type(error).__name__
        raise TesseraError(f"{path} is not a readable model file (corrupt or truncated: {kind})") \
            from None
    if "meta" not in arrays:
        raise TesseraError(f"{path} is not a tessera model file (no 'meta' entry)")
    try:
        meta = json.loads(arrays["meta"].astype(np.uint8).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError):
        raise TesseraError(f"{path}: the model file's metadata is corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TesseraError(f"{path} is not a tessera model file (format {meta.get('format')!r})"
                           if isinstance(meta, dict) else f"{path} is not a tessera model file")
    version = meta.get("version")
    if isinstance(version, bool) or version not in READS:
        reads = " and ".join(str(v) for v in READS)
        raise TesseraError(f"{path} has model format version {version!r}; this tessera reads "
                           f"versions {reads}")
    try:
        return _build(meta, arrays, version)
    except TesseraError as error:
        raise TesseraError(f"{path}: {error}") from None
    except (TypeError, ValueError, IndexError, OverflowError) as error:
        raise TesseraError(f"{path}: inconsistent model file ({error})") from None


def _field(mapping, key, where, spec=None):
    """Return ``mapping[key]``, checked against ``spec`` (a :class:`Field`) if given."""
    if not isinstance(mapping, dict) or key not in mapping:
        raise TesseraError(f"model file is missing the field {where}{key!r}")
    value = mapping[key]
    return value if spec is None else spec.check(value, where)


_ENGINES = tuple(dict.fromkeys(kind.engine for kind in KINDS.values()))

#: The fields of the model and of every layer, whatever its kind.
_MODEL_FIELDS = {
    "model": Field("model", "str"),
    "input_shape": Field("input_shape", "ints", low=1, high=MAX_DIM),
    "input_scale": Field("input_scale", "float", low=0),
    "n_pes": Field("n_pes", "int", low=1, high=4096),
    "rel_bits": Field("rel_bits", "int", low=1, high=MAX_REL_BITS),
    "ptr_bits": Field("ptr_bits", "int", low=1, high=32),
}
_LAYER_FIELDS = {
    "name": Field("name", "str"),
    "kind": Field("kind", "str", choices=tuple(KINDS)),
    "engine": Field("engine", "str", choices=_ENGINES),
    "in_shape": Field("in_shape", "ints", low=1, high=MAX_DIM),
    "output_scale": Field("output_scale", "float", low=0),
}


def _array(arrays, key):
    if key not in arrays:
        raise TesseraError(f"model file is missing the array {key!r}")
    return arrays[key]


def _int_array(arrays, key, shape, low, high):
    value = check_int_array(_array(arrays, key), f"array {key!r}", low=low, high=high)
    if value.shape != shape:
        raise TesseraError(f"array {key!r} must have shape {shape}, not {value.shape}")
    return value


def _checked_shape(shape, where, label):
    if not 1 <= len(shape) <= 3:
        raise TesseraError(f"field {where}{label!r} must have 1 to 3 entries, not {len(shape)}")
    if int(np.prod(shape, dtype=object)) > MAX_WEIGHTS:
        raise TesseraError(f"field {where}{label!r} declares {list(shape)}, more than "
                           f"{MAX_WEIGHTS} values")
    return shape


def _weights(name, shape, bits, arrays, n_pes, rel_bits):
    """Return ``(weight, codebook, indices)`` of a weighted layer from its arrays."""
    rows, cols = shape
    if rows * cols > MAX_WEIGHTS:
        raise TesseraError(f"layer {name}: shape {rows}x{cols} declares more than {MAX_WEIGHTS} "
                           f"weights")
    if bits is None:
        weight = _array(arrays, f"{name}.weight")
        if weight.dtype != np.int8:
            raise TesseraError(f"layer {name}: weight must be int8, not {weight.dtype}")
        if tuple(weight.shape) != shape:
            raise TesseraError(f"layer {name}: weight shape {weight.shape} is not {shape}")
        return weight, None, None
    if bits > MAX_INDEX_BITS:
        raise TesseraError(f"layer {name}: bits must be at most {MAX_INDEX_BITS}, not {bits}")
    codebook = _int_array(arrays, f"{name}.codebook", (2**bits,), -128, 127)
    col_ptr = _array(arrays, f"{name}.col_ptr")
    matrix = EIEMatrix(
        shape, n_pes, rel_bits, bits, codebook, col_ptr,
        _array(arrays, f"{name}.v"), _array(arrays, f"{name}.z"),
        np.concatenate([[0], np.cumsum(np.asarray(col_ptr)[:, -1])])
        if np.ndim(col_ptr) == 2 else np.zeros(0, dtype=np.int64),
    )
    indices = decode_indices(matrix)
    return codebook[indices].astype(np.int8), codebook.astype(np.int8), indices


def _layer(i, entry, arrays, version, n_pes, rel_bits, names, previous):
    where = f"layers[{i}]."
    if not isinstance(entry, dict):
        raise TesseraError(f"field layers[{i}] must be an object, not {entry!r}")
    common = {key: _field(entry, key, where, spec) for key, spec in _LAYER_FIELDS.items()}
    name, kind = common["name"], KINDS[common["kind"]]
    if not name:
        raise TesseraError(f"field {where}'name' must not be empty")
    if name in names:
        raise TesseraError(f"field {where}'name': a second layer named {name!r}")
    if kind.version > version:
        raise TesseraError(f"layer {name}: kind {kind.name!r} needs model format version "
                           f"{kind.version}, but the file says {version}")
    own = {spec.name: _field(entry, spec.name, where, spec) for spec in kind.fields}
    in_shape = _checked_shape(common["in_shape"], where, "in_shape")
    _check_input(in_shape, previous, i)
    if not kind.weighted:
        return QLayer(name, kind, None, None, None, None, False, in_shape,
                      output_scale=float(common["output_scale"]), engine=common["engine"], **own)
    shape = own.pop("shape")
    weight, codebook, indices = _weights(name, shape, own.pop("bits"), arrays, n_pes, rel_bits)
    out = shape[0]
    weight_scale = own.pop("weight_scale")
    if weight_scale is not None and len(weight_scale) != out:
        raise TesseraError(f"field {where}'weight_scale' must have {out} entries, not "
                           f"{len(weight_scale)}")
    return QLayer(
        name, kind, weight,
        _int_array(arrays, f"{name}.bias", (out,), INT32_MIN, INT32_MAX),
        _int_array(arrays, f"{name}.multiplier", (out,), 0, MAX_MULTIPLIER),
        _int_array(arrays, f"{name}.shift", (out,), 0, MAX_SHIFT),
        own.pop("relu"), in_shape, **own,
        weight_scale=None if weight_scale is None else np.asarray(weight_scale, dtype=float),
        output_scale=float(common["output_scale"]), codebook=codebook, indices=indices,
        engine=common["engine"],
    )


def _build(meta, arrays, version):
    top = {key: _field(meta, key, "", spec) for key, spec in _MODEL_FIELDS.items()}
    entries = _field(meta, "layers", "")
    if not isinstance(entries, list):
        raise TesseraError(f"field 'layers' must be a list, not {entries!r}")
    if not entries:
        raise TesseraError("field 'layers' is empty: a model needs at least one layer")
    info = meta.get("info", {})
    if not isinstance(info, dict):
        raise TesseraError(f"field 'info' must be an object, not {info!r}")
    input_shape = _checked_shape(top["input_shape"], "", "input_shape")
    layers, names = [], set()
    for i, entry in enumerate(entries):
        previous = layers[-1].out_shape if layers else input_shape
        layer = _layer(i, entry, arrays, version, top["n_pes"], top["rel_bits"], names, previous)
        names.add(layer.name)
        layers.append(layer)
    model = QModel(top["model"], input_shape, float(top["input_scale"]), layers, top["n_pes"],
                   top["rel_bits"], top["ptr_bits"])
    return model, info


def _check_input(in_shape, previous, i):
    """A layer reads what the layer before wrote: the same NHWC map, or as many values for fc."""
    ok = (tuple(in_shape) == tuple(previous) if len(in_shape) == 3
          else int(np.prod(in_shape)) == int(np.prod(previous)))
    if not ok:
        source = f"layers[{i - 1}]'s output" if i else "the model's input_shape"
        raise TesseraError(f"field layers[{i}].'in_shape' {list(in_shape)} does not match "
                           f"{source} {list(previous)}")
