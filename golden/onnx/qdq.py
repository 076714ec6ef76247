"""Import a symmetric int8 QDQ model straight into a :class:`~tessera.golden.inference.QModel`.

The QDQ form is what onnxruntime's ``quantize_static(..., quant_format=QuantFormat.QDQ,
per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
extra_options={"ActivationSymmetric": True})`` writes::

    x -> QuantizeLinear(s_in) -> DequantizeLinear -> Conv/Gemm(DQ(w int8, per channel), DQ(b int32))
      -> QuantizeLinear(s_out) -> DequantizeLinear [-> Relu -> QuantizeLinear -> DequantizeLinear]
      -> ...

Every zero point must be 0 (symmetric int8); weights are int8 per output channel (or per tensor),
biases int32 at the scale ``s_in * s_w``. Each layer becomes a :class:`QLayer` with the same int8
weights and int32 biases, and ``(multiplier, shift)`` from ``s_in * s_w / s_out``; the
quantization between layers (Flatten, Reshape, MaxPool) must keep one scale.

tessera rounds once per layer where onnxruntime rounds at each QuantizeLinear (after the layer and
again after a Relu whose scale differs), and in float32 with ties to even: the two agree within
1 LSB per layer (``docs/onnx.md``). The default ``quantize_static`` (asymmetric activations, zero
point -128 after ReLU, uint8) is refused with one line naming the options to use.
"""

import numpy as np

from ..errors import TesseraError
from ..inference import QLayer, QModel
from ..quant import quantize_multiplier
from .common import Graph, load_model, node_label, onnx_name
from .importer import _Importer

__all__ = ["SYMMETRIC_OPTIONS", "import_qdq", "is_qdq", "lossless_codebooks"]

#: Ops whose int8 output is exactly their int8 input rearranged (or clamped at 0, for ReLU on a
#: symmetric scale): their output keeps the input's scale.
KEEP_SCALE = ("Flatten", "Reshape", "MaxPool", "Identity", "Dropout", "Relu")

SYMMETRIC_OPTIONS = (
    "quantize_static(..., quant_format=QuantFormat.QDQ, per_channel=True, "
    "activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, "
    "extra_options={'ActivationSymmetric': True})"
)


def is_qdq(model):
    """True when the model has QuantizeLinear or DequantizeLinear nodes."""
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)


def _zero_point(graph, node, index, scale_shape):
    if len(node.input) <= index or not node.input[index]:
        return None  # ONNX's default zero point is 0 (uint8): the dtype check is below
    zp = np.asarray(graph.const(node.input[index], node, "zero point"))
    if zp.dtype not in (np.int8, np.int32):
        raise TesseraError(
            f"{node_label(node)}: zero point of type {zp.dtype}; tessera takes symmetric int8 "
            f"(zero point 0). Quantize with {SYMMETRIC_OPTIONS}"
        )
    if np.any(zp != 0):
        raise TesseraError(
            f"{node_label(node)}: zero point {int(zp.ravel()[np.flatnonzero(zp)[0]])} "
            f"(asymmetric); tessera's integer layers have no zero points. Quantize with "
            f"{SYMMETRIC_OPTIONS}"
        )
    del scale_shape
    return zp


class _Simplified:
    """The QDQ graph as a float graph, with the quantization of every tensor recorded."""

    def __init__(self, model):
        self.graph = Graph(model)
        graph = self.graph
        self.quantized_order = []  # every activation QuantizeLinear's float input, in order
        self.quant = {}  # constant name -> (int array, scale array, axis)
        self.scale = {}  # float activation name -> the scale it is quantized with
        alias = {}
        nodes = []
        quantized = {}  # QuantizeLinear output -> (float input, scale)
        for node in graph.nodes:
            op = node.op_type
            inputs = [alias.get(name, name) for name in node.input]
            if op == "Constant":
                graph.add_constant(node)
                continue
            if op in ("QuantizeLinear", "DequantizeLinear"):
                attrs = graph.attrs(node)
                scale = np.asarray(graph.const(inputs[1], node, "scale"), dtype=np.float64)
                zp = _zero_point(graph, node, 2, scale.shape)
                if zp is None and op == "QuantizeLinear":
                    raise TesseraError(
                        f"{node_label(node)}: no zero point, so uint8; tessera takes symmetric "
                        f"int8. Quantize with {SYMMETRIC_OPTIONS}")
                if not np.all(scale > 0) or not np.all(np.isfinite(scale)):
                    raise TesseraError(f"{node_label(node)}: scales must be positive")
                if op == "DequantizeLinear" and inputs[0] in graph.consts:
                    q = np.asarray(graph.consts[inputs[0]])
                    if q.dtype not in (np.int8, np.int32):
                        raise TesseraError(
                            f"{node_label(node)}: a {q.dtype} constant; tessera takes int8 "
                            f"weights and int32 biases. Quantize with {SYMMETRIC_OPTIONS}")
                    if scale.size == 1:
                        scale = scale.reshape(())
                    axis = attrs.get("axis", 1) if scale.ndim else None
                    shape = [1] * q.ndim
                    if axis is not None:
                        if not -q.ndim <= axis < q.ndim or q.shape[axis] != scale.size:
                            raise TesseraError(f"{node_label(node)}: {scale.size} scales along "
                                               f"axis {axis} of a {q.shape} constant")
                        shape[axis] = -1
                    graph.consts[node.output[0]] = q * scale.reshape(shape)
                    self.quant[node.output[0]] = (q, scale, axis)
                    continue
                if scale.ndim:
                    raise TesseraError(f"{node_label(node)}: activations must be quantized per "
                                       f"tensor")
                if op == "QuantizeLinear":
                    if zp.dtype != np.int8:
                        raise TesseraError(f"{node_label(node)}: activations must be int8")
                    quantized[node.output[0]] = (inputs[0], float(scale))
                    self._record(node, inputs[0], float(scale))
                    continue
                if inputs[0] not in quantized:
                    raise TesseraError(f"{node_label(node)}: dequantizes a tensor that no "
                                       f"QuantizeLinear produced")
                source, q_scale = quantized[inputs[0]]
                if q_scale != float(scale):
                    raise TesseraError(f"{node_label(node)}: dequantizes with scale "
                                       f"{float(scale):g}, quantized with {q_scale:g}")
                alias[node.output[0]] = source
                continue
            if op in ("Identity", "Dropout") and inputs[0] in graph.consts:
                graph.consts[node.output[0]] = graph.consts[inputs[0]]
                if inputs[0] in self.quant:
                    self.quant[node.output[0]] = self.quant[inputs[0]]
                continue
            copy = type(node)()
            copy.CopyFrom(node)
            del copy.input[:]
            copy.input.extend(inputs)
            nodes.append(copy)
        graph.nodes = nodes
        self.output = alias.get(graph.output, graph.output)
        graph.output = self.output
        # Ops that move int8 values without changing them keep their input's scale.
        for node in nodes:
            if node.op_type in KEEP_SCALE and node.input and node.input[0] in self.scale:
                self.scale.setdefault(node.output[0], self.scale[node.input[0]])

    def _record(self, node, tensor, scale):
        previous = self.scale.get(tensor)
        if previous is not None and previous != scale:
            raise TesseraError(f"{node_label(node)}: {tensor!r} is quantized with two scales")
        self.scale[tensor] = scale
        self.quantized_order.append(tensor)


def import_qdq(source, *, name=None):
    """Import a symmetric int8 QDQ model as a :class:`QModel`.

    Parameters
    ----------
    source : path or onnx.ModelProto
    name : str or None

    Returns
    -------
    (model, model_input) : (QModel, ImportedInput)

    Raises
    ------
    TesseraError
        One line naming the node: asymmetric or uint8 quantization (with the options to use
        instead), a layer whose input, weights, bias or output is not quantized as above, a
        change of scale between layers, or anything the float import refuses.
    """
    model = load_model(source)
    try:
        simple = _Simplified(model)
        importer = _Importer(simple.graph, name or onnx_name(source))
        net = importer.run()
    except TesseraError:
        raise
    except (ValueError, IndexError, TypeError) as error:
        raise TesseraError(f"the model is malformed: {error}") from None
    model_input = simple.graph.input
    input_name = model_input.name
    if input_name not in simple.scale:
        raise TesseraError(f"input {input_name!r} is not quantized (no QuantizeLinear on it)")
    scales_in = []
    for node in importer.layer_nodes:
        tensor = node.input[0]
        if tensor not in simple.scale:
            raise TesseraError(f"{node_label(node)}: its input is not quantized (no "
                               f"QuantizeLinear/DequantizeLinear before it)")
        scales_in.append(simple.scale[tensor])
    if simple.output not in simple.scale:
        raise TesseraError("the model's output is not quantized: the last layer needs a "
                           "QuantizeLinear/DequantizeLinear after it")
    scales_out = [*scales_in[1:], simple.scale[simple.output]]
    _check_scales(simple, importer, scales_out)
    if scales_in[0] != simple.scale[input_name]:
        raise TesseraError(f"{node_label(importer.layer_nodes[0])}: its input is requantized "
                           f"after the model's input")
    layers, weighted = [], iter(zip(importer.layer_nodes, scales_in, scales_out))
    scale = simple.scale[input_name]
    for layer in net.layers:
        if not layer.kind.weighted:  # max pooling: int8 in, int8 out, same scale
            layers.append(QLayer.max_pool(layer.name, layer.in_shape, layer.kernel,
                                          layer.stride, output_scale=scale))
            continue
        node, s_in, s_out = next(weighted)
        layers.append(_qlayer(simple, layer, node, s_in, s_out))
        scale = s_out
    qmodel = QModel(net.name, model_input.tessera_shape, simple.scale[input_name], layers)
    return qmodel, model_input


def _check_scales(simple, importer, scales_out):
    """Between two layers every QuantizeLinear after the first (pre-ReLU) one keeps one scale."""
    positions = {id(node): i for i, node in enumerate(simple.graph.nodes)}
    producer = {out: i for i, node in enumerate(simple.graph.nodes) for out in node.output}
    layer_at = [positions[id(node)] for node in importer.layer_nodes]
    weighted = [layer for layer in importer.layers if layer.kind.weighted]
    for i, start in enumerate(layer_at):
        end = layer_at[i + 1] if i + 1 < len(layer_at) else len(simple.graph.nodes)
        between = [t for t in simple.quantized_order
                   if start <= producer.get(t, -1) < end]
        node = importer.layer_nodes[i]
        # With a ReLU the first QuantizeLinear is the layer's pre-ReLU output; tessera rounds
        # once, into the scale after the ReLU.
        kept = between[1:] if weighted[i].relu else between
        for tensor in kept:
            if simple.scale[tensor] != scales_out[i]:
                raise TesseraError(
                    f"{node_label(node)}: requantization after the layer changes the scale "
                    f"({simple.scale[tensor]:g} then {scales_out[i]:g}); tessera requantizes "
                    f"once per layer")
        if not between:
            raise TesseraError(f"{node_label(node)}: its output is not quantized")


def _qlayer(simple, layer, node, s_in, s_out):
    label = node_label(node)
    if node.input[1] not in simple.quant:
        raise TesseraError(f"{label}: its weights are not a DequantizeLinear of an int8 constant")
    _, w_scale, axis = simple.quant[node.input[1]]
    out = layer.weight.shape[0]
    if w_scale.ndim == 0:
        w_scale = np.full(out, float(w_scale))
    elif w_scale.size != out:
        raise TesseraError(f"{label}: weight scales along axis {axis} are not one per output "
                           f"channel")
    weight = layer.weight / w_scale[:, None]
    q = np.rint(weight)
    if np.any(np.abs(weight - q) > 1e-6) or q.min() < -128 or q.max() > 127:
        raise TesseraError(f"{label}: the weights are not int8 multiples of one scale per output "
                           f"channel (a folded BatchNormalization or an alpha?)")
    bias = np.zeros(out, dtype=np.int64)
    if len(node.input) > 2 and node.input[2]:
        if node.input[2] not in simple.quant:
            raise TesseraError(f"{label}: its bias is not a DequantizeLinear of an int32 "
                               f"constant")
        b_q, b_scale, _ = simple.quant[node.input[2]]
        if b_q.dtype != np.int32:
            raise TesseraError(f"{label}: its bias is {b_q.dtype}, not int32")
        expected = s_in * w_scale
        b_scale = np.broadcast_to(np.asarray(b_scale, dtype=np.float64), (out,))
        if not np.allclose(b_scale, expected, rtol=1e-5, atol=0):
            raise TesseraError(f"{label}: the bias scale is not input scale x weight scale")
        bias = np.asarray(b_q, dtype=np.int64).ravel()
        if bias.size != out:
            raise TesseraError(f"{label}: {bias.size} biases for {out} outputs")
    multiplier, shift = quantize_multiplier(s_in * w_scale / s_out)
    return QLayer(
        layer.name, layer.kind, q.astype(np.int8), bias, np.asarray(multiplier, np.int64),
        np.asarray(shift, np.int64), layer.relu, tuple(layer.in_shape), layer.kernel,
        layer.stride, layer.padding, weight_scale=w_scale, output_scale=s_out,
        engine="systolic" if layer.kind == "conv" else "sparse",
    )


def lossless_codebooks(model):
    """Give every weighted layer an 8-bit codebook holding its int8 values: a lossless share.

    The weights do not change (``codebook[indices] == weight``); the model becomes a compressed
    :class:`QModel` that the sparse engine's EIE encoding, the storage accounting and the model
    file take. Index 0 is the zero; unused entries are 0.
    """
    for layer in model.layers:
        if not layer.kind.weighted:
            continue
        values = np.unique(layer.weight[layer.weight != 0]).astype(np.int8)
        book = np.zeros(256, dtype=np.int8)
        book[1:1 + values.size] = values
        indices = np.zeros(layer.weight.shape, dtype=np.int64)
        nonzero = layer.weight != 0
        indices[nonzero] = 1 + np.searchsorted(values, layer.weight[nonzero])
        layer.codebook, layer.indices = book, indices
        layer.__post_init__()  # checks codebook[indices] == weight
    return model
