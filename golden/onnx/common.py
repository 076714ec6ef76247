"""What the ONNX importers share: reading the file, the opset check, constants, attributes, input.

Every failure is a one-line :class:`~tessera.golden.errors.TesseraError` naming the file, the node
or the op: a file that is not ONNX, a truncated file, a missing external-data file, an opset out
of range, a dynamic dimension other than the batch.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TesseraError

__all__ = ["MAX_OPSET", "MIN_OPSET", "Graph", "ImportedInput", "load_model", "node_label"]

#: The default-domain opsets the importers accept. 13 is where Softmax took its per-axis meaning
#: and Reshape/Squeeze their current forms; 21 is the newest onnxruntime 1.17 runs.
MIN_OPSET = 13
MAX_OPSET = 21


def _onnx():
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is a dependency of tessera
        raise TesseraError("reading ONNX needs the 'onnx' package: pip install onnx") from None
    return onnx


def load_model(source):
    """Return a checked ``onnx.ModelProto`` from a path or a ModelProto.

    External data (``.onnx.data`` side files) is loaded from the model's directory.

    Raises
    ------
    TesseraError
        If the file is missing, is not ONNX, is truncated, refers to a missing external-data file,
        fails ONNX's checker, or uses an opset outside [MIN_OPSET, MAX_OPSET].
    """
    onnx = _onnx()
    if isinstance(source, onnx.ModelProto):
        model, where = source, "model"
    else:
        path = Path(source)
        where = str(path)
        if not path.exists():
            raise TesseraError(f"no such ONNX file: {path}")
        if path.is_dir():
            raise TesseraError(f"{path} is a directory, not an ONNX file")
        data = path.read_bytes()
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except Exception:  # protobuf's DecodeError and friends: the bytes are not a model
            raise TesseraError(f"{path} is not an ONNX model (or it is truncated)") from None
        if not model.HasField("graph") or not model.graph.node:
            raise TesseraError(f"{path} is not an ONNX model (or it is truncated): no graph")
        _load_external(onnx, model, path)
    try:
        onnx.checker.check_model(model)
    except Exception as error:  # onnx.checker.ValidationError, or a C++ error on oversize
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TesseraError(f"{where} is not a valid ONNX model (or it is truncated): {first}") \
            from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not MIN_OPSET <= opset <= MAX_OPSET:
        raise TesseraError(
            f"{where}: opset {opset} is not supported; tessera reads opsets {MIN_OPSET} to "
            f"{MAX_OPSET} (re-export with opset_version={MIN_OPSET}..{MAX_OPSET})"
        )
    return model


def _load_external(onnx, model, path):
    """Read the external-data side files of ``model`` (from ``path``'s directory)."""
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    for tensor in model.graph.initializer:
        if uses_external_data(tensor):
            info = {entry.key: entry.value for entry in tensor.external_data}
            location = info.get("location", "")
            if not (path.parent / location).is_file():
                raise TesseraError(f"{path}: missing external-data file {location!r} (tensor "
                                   f"{tensor.name!r})")
    try:
        load_external_data_for_model(model, str(path.parent))
    except Exception as error:  # OSError, ValueError, onnx's ValidationError on a bad location
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TesseraError(f"{path}: cannot read its external data: {first}") from None


def onnx_name(source):
    """The default name of an imported model: the file's stem, or ``"onnx"``."""
    return Path(source).stem if isinstance(source, (str, Path)) else "onnx"


def node_label(node):
    """``node 'conv1' (Conv)``: how error messages name a node."""
    return f"node {node.name or node.output[0]!r} ({node.op_type})"


@dataclass(frozen=True)
class ImportedInput:
    """The imported model's input: its name and layout, and the conversion to tessera's layout.

    Attributes
    ----------
    name : str
    shape : tuple of int
        One input in the ONNX model's layout, without the batch: ``(C, H, W)`` or ``(F,)``.
    """

    name: str
    shape: tuple

    @property
    def tessera_shape(self):
        """One input in tessera's layout: ``(H, W, C)`` for images, ``(F,)`` for vectors."""
        if len(self.shape) == 3:
            c, h, w = self.shape
            return (h, w, c)
        return tuple(self.shape)

    def to_tessera(self, x, what="x"):
        """Convert a batch in the ONNX layout to flat float64 rows in tessera's order.

        NCHW images become NHWC flattened in ``(h, w, c)`` order; vectors stay as they are.

        Raises
        ------
        TesseraError
            If ``x`` is not ``(n, *shape)`` (a flat ``(n, prod(shape))`` is accepted too).
        """
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise TesseraError(f"{what} must be real numbers, not {x.dtype}")
        size = int(np.prod(self.shape))
        if x.ndim == 2 and x.shape[1] == size and len(self.shape) != 1:
            x = x.reshape(-1, *self.shape)
        if x.ndim == 0 or x.shape[1:] != tuple(self.shape):
            raise TesseraError(
                f"{what} has shape {x.shape} but the model's input {self.name!r} takes "
                f"(n, {', '.join(map(str, self.shape))})"
            )
        x = x.astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise TesseraError(f"{what} holds NaN or infinite values")
        if x.ndim == 4:
            x = x.transpose(0, 2, 3, 1)
        return x.reshape(len(x), -1)

    def from_tessera(self, x):
        """Inverse of :meth:`to_tessera`: flat tessera rows to the ONNX layout, float32."""
        x = np.asarray(x, dtype=np.float32).reshape(-1, *self.tessera_shape)
        if x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)


class Graph:
    """The constants, attributes and single float input of a graph, read once.

    Parameters
    ----------
    model : onnx.ModelProto
    """

    def __init__(self, model):
        onnx = _onnx()
        from onnx import numpy_helper

        self.onnx = onnx
        self.numpy_helper = numpy_helper
        graph = model.graph
        self.consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.nodes = list(graph.node)
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise TesseraError(
                f"the model must have one input, not {len(inputs)} "
                f"({', '.join(i.name for i in inputs)})"
            )
        if len(graph.output) != 1:
            raise TesseraError(f"the model must have one output, not {len(graph.output)}")
        self.output = graph.output[0].name
        self.input = self._input(inputs[0])
        self.elem_type = inputs[0].type.tensor_type.elem_type

    def _input(self, value):
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            raise TesseraError(f"input {value.name!r} has no shape")
        dims = list(tensor.shape.dim)
        if len(dims) not in (2, 4):
            raise TesseraError(
                f"input {value.name!r} has {len(dims)} dimensions; tessera takes (N, F) or "
                f"(N, C, H, W)"
            )
        batch = dims[0]
        if batch.HasField("dim_value") and batch.dim_value != 1:
            raise TesseraError(
                f"input {value.name!r}: the batch dimension must be symbolic or 1, not "
                f"{batch.dim_value}"
            )
        shape = []
        for axis, dim in enumerate(dims[1:], start=1):
            if not dim.HasField("dim_value") or dim.dim_value < 1:
                name = dim.dim_param or "?"
                raise TesseraError(
                    f"input {value.name!r}: dimension {axis} is dynamic ({name!r}); only the "
                    f"batch dimension may be"
                )
            shape.append(int(dim.dim_value))
        return ImportedInput(value.name, tuple(shape))

    def attrs(self, node):
        """Return the node's attributes as a dict of Python values."""
        helper = self.onnx.helper
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def const(self, name, node, what):
        """Return the constant named ``name`` (an initializer or a Constant's output)."""
        if name not in self.consts:
            raise TesseraError(f"{node_label(node)}: the {what} must be a constant (initializer or "
                               f"Constant node)")
        return self.consts[name]

    def add_constant(self, node):
        """Record the value of a Constant node."""
        attrs = self.attrs(node)
        if "value" in attrs:
            value = self.numpy_helper.to_array(attrs["value"])
        elif "value_float" in attrs:
            value = np.float32(attrs["value_float"])
        elif "value_floats" in attrs:
            value = np.asarray(attrs["value_floats"], dtype=np.float32)
        elif "value_int" in attrs:
            value = np.int64(attrs["value_int"])
        elif "value_ints" in attrs:
            value = np.asarray(attrs["value_ints"], dtype=np.int64)
        else:
            raise TesseraError(f"{node_label(node)}: unsupported Constant attribute "
                               f"{', '.join(attrs) or '(none)'}")
        self.consts[node.output[0]] = np.asarray(value)
