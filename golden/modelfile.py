"""The compressed model file: versioned, self-describing, and everything needed to run the model.

Format (version 1)
------------------
A NumPy ``.npz`` archive (a zip of ``.npy`` arrays; read with ``allow_pickle=False``, so a file can
never execute code) holding:

- ``meta``: a uint8 array with UTF-8 JSON::

      {"format": "tessera-model", "version": 1,
       "model": "mlp", "input_shape": [64], "input_scale": 0.00787,
       "n_pes": 4, "rel_bits": 4, "ptr_bits": 16,
       "layers": [{"name": "fc1", "kind": "fc", "shape": [300, 64], "relu": true,
                   "in_shape": [64], "kernel": 1, "stride": 1, "padding": 0,
                   "engine": "sparse", "bits": 4, "output_scale": 0.05,
                   "weight_scale": [...]}, ...],
       "info": {...}}            # free-form: accuracies, settings, ratios at compression time

- per layer ``<name>.bias`` (int32), ``<name>.multiplier`` and ``<name>.shift`` (int64, one per
  output channel), and either the EIE encoding of a compressed layer, ``<name>.codebook`` (int8,
  ``2**bits``), ``<name>.v``, ``<name>.z`` (uint8 entries of all PEs, PE by PE) and
  ``<name>.col_ptr`` (int64, ``(n_pes, cols + 1)``), or a dense ``<name>.weight`` (int8).

:func:`load` checks the format name, the version and every field, rebuilds the EIE matrices (whose
constructor validates pointers, widths and row ranges) and returns the same
:class:`~tessera.golden.inference.QModel`. A missing, truncated, corrupt or foreign file, another
version
or a missing field is a one-line :class:`~tessera.golden.errors.TesseraError`.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from .eie import EIEMatrix, decode_indices
from .errors import TesseraError
from .inference import QLayer, QModel
from .npyfile import read_npz

__all__ = ["FORMAT", "VERSION", "load", "save"]

FORMAT = "tessera-model"
VERSION = 1


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model file")


def save(path, model, *, info=None):
    """Write a :class:`~tessera.golden.inference.QModel` to ``path`` (``.npz``).

    Compressed layers are stored in EIE format with the model's ``n_pes`` and ``rel_bits``.
    ``info`` is a JSON-serialisable dict kept alongside (accuracies, settings).
    """
    arrays, layers = {}, []
    for layer in model.layers:
        entry = {
            "name": layer.name, "kind": layer.kind, "shape": list(layer.weight.shape),
            "relu": bool(layer.relu), "in_shape": list(layer.in_shape), "kernel": layer.kernel,
            "stride": layer.stride, "padding": layer.padding, "engine": layer.engine,
            "bits": layer.bits, "output_scale": float(layer.output_scale),
            "weight_scale": None if layer.weight_scale is None else list(
                np.asarray(layer.weight_scale, dtype=float)),
        }
        layers.append(entry)
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
        "format": FORMAT, "version": VERSION, "model": model.name,
        "input_shape": list(model.input_shape), "input_scale": float(model.input_scale),
        "n_pes": model.n_pes, "rel_bits": model.rel_bits, "ptr_bits": model.ptr_bits,
        "layers": layers, "info": info or {},
    }
    text = json.dumps(meta, default=_json_default, sort_keys=True)
    arrays["meta"] = np.frombuffer(text.encode(), dtype=np.uint8)
    path = Path(path)
    with open(path, "wb") as f:  # np.savez would append ".npz" to a name without it
        np.savez_compressed(f, **arrays)


def _field(mapping, key, where):
    if not isinstance(mapping, dict) or key not in mapping:
        raise TesseraError(f"model file is missing the field {where}{key!r}")
    return mapping[key]


def load(path):
    """Read a model file written by :func:`save`.

    Returns
    -------
    (model, info) : (QModel, dict)

    Raises
    ------
    TesseraError
        If the file is missing or unreadable, is not a tessera model, has another format version,
        lacks a field, or holds inconsistent data. ``OSError`` is turned into the same one-line
        error.
    """
    path = Path(path)
    if not path.exists():
        raise TesseraError(f"no such model file: {path}")
    if path.is_dir():
        raise TesseraError(f"{path} is a directory, not a model file")
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                raise TesseraError(f"{path} is not a tessera model file (not an .npz archive)")
        # Every member's header is checked against its size before anything is allocated.
        try:
            arrays = read_npz(path)
        except TesseraError as error:
            raise TesseraError(f"{path} is not a readable model file (corrupt or truncated: "
                               f"{error})") from None
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
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError):
        raise TesseraError(f"{path}: the model file's metadata is corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TesseraError(f"{path} is not a tessera model file (format {meta.get('format')!r})"
                           if isinstance(meta, dict) else f"{path} is not a tessera model file")
    version = meta.get("version")
    if version != VERSION:
        raise TesseraError(f"{path} has model format version {version!r}; this tessera reads "
                           f"version {VERSION}")
    try:
        return _build(meta, arrays)
    except TesseraError as error:
        raise TesseraError(f"{path}: {error}") from None
    except (TypeError, ValueError, IndexError) as error:
        raise TesseraError(f"{path}: inconsistent model file ({error})") from None


def _array(arrays, key):
    if key not in arrays:
        raise TesseraError(f"model file is missing the array {key!r}")
    return arrays[key]


def _build(meta, arrays):
    n_pes = int(_field(meta, "n_pes", ""))
    rel_bits = int(_field(meta, "rel_bits", ""))
    ptr_bits = int(_field(meta, "ptr_bits", ""))
    layers = []
    for i, entry in enumerate(_field(meta, "layers", "")):
        where = f"layers[{i}]."
        name = _field(entry, "name", where)
        shape = tuple(int(s) for s in _field(entry, "shape", where))
        bits = _field(entry, "bits", where)
        codebook = indices = None
        if bits is not None:
            codebook = _array(arrays, f"{name}.codebook").astype(np.int64)
            col_ptr = _array(arrays, f"{name}.col_ptr")
            matrix = EIEMatrix(
                shape, n_pes, rel_bits, int(bits), codebook, col_ptr,
                _array(arrays, f"{name}.v"), _array(arrays, f"{name}.z"),
                np.concatenate([[0], np.cumsum(np.asarray(col_ptr)[:, -1])])
                if np.ndim(col_ptr) == 2 else np.zeros(0, dtype=np.int64),
            )
            indices = decode_indices(matrix)
            weight = codebook[indices]
            if codebook.min() < -128 or codebook.max() > 127:
                raise TesseraError(f"layer {name}: codebook values must be int8")
            codebook = codebook.astype(np.int8)
        else:
            weight = _array(arrays, f"{name}.weight")
            if weight.dtype != np.int8:
                raise TesseraError(f"layer {name}: weight must be int8, not {weight.dtype}")
            if tuple(weight.shape) != shape:
                raise TesseraError(f"layer {name}: weight shape {weight.shape} is not {shape}")
        weight_scale = _field(entry, "weight_scale", where)
        layers.append(QLayer(
            name, _field(entry, "kind", where), np.asarray(weight).astype(np.int8),
            _array(arrays, f"{name}.bias"), _array(arrays, f"{name}.multiplier"),
            _array(arrays, f"{name}.shift"), bool(_field(entry, "relu", where)),
            tuple(_field(entry, "in_shape", where)), int(_field(entry, "kernel", where)),
            int(_field(entry, "stride", where)), int(_field(entry, "padding", where)),
            weight_scale=None if weight_scale is None else np.asarray(weight_scale, dtype=float),
            output_scale=float(_field(entry, "output_scale", where)),
            codebook=codebook, indices=indices, engine=_field(entry, "engine", where),
        ))
    model = QModel(
        _field(meta, "model", ""), tuple(_field(meta, "input_shape", "")),
        float(_field(meta, "input_scale", "")), layers, n_pes, rel_bits, ptr_bits,
    )
    return model, meta.get("info", {})
