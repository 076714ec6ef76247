"""Export golden's networks as standard ONNX: the integer model, and the float network.

:func:`export_qmodel` writes what :func:`tessera.golden.inference.run_int8` computes as standard
ONNX operators, so that any ONNX runtime can run what tessera runs:

- the float input (``(N, C, H, W)`` for a model whose first layer is a convolution, ``(N, F)``
  otherwise; the layout the importer reads) goes through ``QuantizeLinear`` with the model's input
  scale and zero point 0;
- every layer is a ``QLinearConv`` with int8 weights (per-channel scales, zero points 0) and an
  int32 bias; fully connected layers are 1x1 convolutions on ``(N, F, 1, 1)``, and the columns of
  the first one after a convolution are permuted from tessera's ``(h, w, c)`` flattening to ONNX's
  ``(c, h, w)``;
- a layer with ReLU is followed by an int8 ``Relu`` (exact: the zero point is 0), a ``maxpool``
  layer is an int8 ``MaxPool``;
- the outputs are ``logits_int8`` (int8, ``(N, classes)``) and ``logits`` (its
  ``DequantizeLinear``).

The requantization: ONNX computes ``y = round(float(acc + bias) * x_scale * w_scale / y_scale)``
in float32 with ties to even; tessera computes ``((acc + bias) * M + 2**(s-1)) >> s`` with ties
toward +infinity. Each channel's exported weight scale is chosen so that ``x_scale * w_scale /
y_scale`` is tessera's ``M / 2**s`` (to float32 precision), not the calibrated weight scale (which
differs from it by up to ``2**-16``): the two then differ only where the exact value is a tie, or
within float32 rounding of one. See ``docs/onnx.md``.
"""

import numpy as np

from ..errors import TesseraError

__all__ = ["INT8_OPSET", "IR_VERSION", "export_float", "export_qmodel"]

#: The opset and IR version written: int8 Relu needs opset 14; IR 8 is read by onnxruntime 1.10+.
INT8_OPSET = 17
IR_VERSION = 8


def _helpers():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    return onnx, TensorProto, helper, numpy_helper


def _fc_columns_to_onnx(weight, in_shape):
    """Permute fc weight columns from tessera's (h, w, c) flattening to ONNX's (c, h, w)."""
    if len(in_shape) != 3:
        return weight
    h, w, c = in_shape
    return weight.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(weight.shape[0], -1)


def _layer_shapes(layers, input_shape):
    """Check the chain and return, per layer, the tessera shape of its input."""
    shapes, shape = [], tuple(input_shape)
    for layer in layers:
        if layer.kind != "fc" and len(shape) != 3:
            raise TesseraError(f"layer {layer.name}: a {layer.kind} layer after a flat layer "
                               f"cannot be exported")
        shapes.append(shape)
        shape = tuple(layer.out_shape)
    if len(shape) != 1:
        raise TesseraError("the last layer must be fully connected to export")
    return shapes


def _input_dims(input_shape):
    if len(input_shape) == 3:
        h, w, c = input_shape
        return ["N", c, h, w]
    return ["N", int(np.prod(input_shape))]


def _input_info(helper, TensorProto, input_shape, name="input"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, _input_dims(input_shape))


def _max_pool(helper, layer, source, out):
    return helper.make_node("MaxPool", [source], [out], name=layer.name,
                            kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2)


def _model(helper, onnx, graph, opset, producer):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name=producer)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def export_float(net, *, opset=13):
    """Return a float :class:`~tessera.golden.nn.Network` as an ``onnx.ModelProto``.

    Convolutions become ``Conv`` (OIHW kernels, NCHW), fully connected layers ``Gemm`` with
    ``transB = 1`` after a ``Flatten`` when the input is an image, ReLUs ``Relu``: the shapes
    ``torch.onnx.export`` writes. :func:`tessera.golden.onnx.import_float` reads it back to the
    same weights.
    """
    onnx, TensorProto, helper, numpy_helper = _helpers()
    shapes = _layer_shapes(net.layers, net.input_shape)
    nodes, inits = [], []
    current = "input"
    for layer, shape in zip(net.layers, shapes):
        w_name, b_name, out = f"{layer.name}.weight", f"{layer.name}.bias", layer.name
        if layer.kind == "maxpool":
            nodes.append(_max_pool(helper, layer, current, out))
            current = out
            continue
        if layer.kind == "conv":
            oc = layer.weight.shape[0]
            k, c = layer.kernel, shape[2]
            kernel = layer.weight.reshape(oc, k, k, c).transpose(0, 3, 1, 2)
            inits.append(numpy_helper.from_array(kernel.astype(np.float32), w_name))
            inits.append(numpy_helper.from_array(layer.bias.astype(np.float32), b_name))
            nodes.append(helper.make_node(
                "Conv", [current, w_name, b_name], [out], name=layer.name,
                kernel_shape=[k, k], strides=[layer.stride] * 2, pads=[layer.padding] * 4))
        else:
            if len(shape) == 3:
                nodes.append(helper.make_node("Flatten", [current], [f"{layer.name}.flat"],
                                              name=f"{layer.name}_flatten", axis=1))
                current = f"{layer.name}.flat"
            weight = _fc_columns_to_onnx(layer.weight, shape)
            inits.append(numpy_helper.from_array(weight.astype(np.float32), w_name))
            inits.append(numpy_helper.from_array(layer.bias.astype(np.float32), b_name))
            nodes.append(helper.make_node("Gemm", [current, w_name, b_name], [out],
                                          name=layer.name, transB=1))
        current = out
        if layer.relu:
            nodes.append(helper.make_node("Relu", [current], [f"{out}.relu"],
                                          name=f"{layer.name}_relu"))
            current = f"{out}.relu"
    nodes.append(helper.make_node("Identity", [current], ["logits"], name="output"))
    classes = net.layers[-1].weight.shape[0]
    graph = helper.make_graph(
        nodes, net.name, [_input_info(helper, TensorProto, net.input_shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], inits)
    return _model(helper, onnx, graph, opset, "tessera")


def export_qmodel(model, *, intermediates=False):
    """Return a :class:`~tessera.golden.inference.QModel` as an ``onnx.ModelProto``.

    Parameters
    ----------
    model : QModel
    intermediates : bool
        Also output the quantized input (``input_int8``) and every layer's int8 output
        (``<layer>.int8``, NCHW): what the tests compare layer by layer.

    Raises
    ------
    TesseraError
        If a layer cannot be written (a convolution after a flat layer; a model not ending in a
        fully connected layer).
    """
    onnx, TensorProto, helper, numpy_helper = _helpers()
    shapes = _layer_shapes(model.layers, model.input_shape)
    nodes, inits, extra = [], [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    zero = const("zero_point", np.int8(0))
    scale_in = np.float32(model.input_scale)
    current = "input_int8"
    nodes.append(helper.make_node(
        "QuantizeLinear", ["input", const("input.scale", scale_in), zero], [current],
        name="quantize_input"))
    if intermediates:
        extra.append((current, _input_dims(model.input_shape)))
    if len(model.input_shape) == 1:
        nodes.append(helper.make_node(
            "Reshape", [current, const("input.shape4", np.array([0, -1, 1, 1], np.int64))],
            ["input_int8_4d"], name="input_to_4d"))
        current = "input_int8_4d"
    for layer, shape in zip(model.layers, shapes):
        if layer.kind == "maxpool":  # int8 maximum: the scale does not change
            nodes.append(_max_pool(helper, layer, current, f"{layer.name}.int8"))
            current = f"{layer.name}.int8"
            if intermediates:
                oh, ow, c = layer.out_shape
                extra.append((current, ["N", c, oh, ow]))
            continue
        out_channels = layer.weight.shape[0]
        if layer.kind == "conv":
            k, c = layer.kernel, shape[2]
            kernel = layer.weight.reshape(out_channels, k, k, c).transpose(0, 3, 1, 2)
            geometry = {"kernel_shape": [k, k], "strides": [layer.stride] * 2,
                        "pads": [layer.padding] * 4}
        else:
            if len(shape) == 3:
                flat = f"{layer.name}.flat"
                nodes.append(helper.make_node(
                    "Reshape", [current, const(f"{layer.name}.shape4",
                                               np.array([0, -1, 1, 1], np.int64))],
                    [flat], name=f"{layer.name}_flatten"))
                current = flat
            weight = _fc_columns_to_onnx(layer.weight, shape)
            kernel = weight.reshape(out_channels, -1, 1, 1)
            geometry = {"kernel_shape": [1, 1]}
        scale_out = np.float32(layer.output_scale)
        real = np.asarray(layer.multiplier, np.float64) / np.exp2(np.asarray(layer.shift))
        w_scale = (real * np.float64(scale_out) / np.float64(scale_in)).astype(np.float32)
        out = f"{layer.name}.acc8" if layer.relu else f"{layer.name}.int8"
        nodes.append(helper.make_node(
            "QLinearConv",
            [current, f"{layer.name}.x_scale", zero,
             const(f"{layer.name}.weight", np.ascontiguousarray(kernel, dtype=np.int8)),
             const(f"{layer.name}.w_scale", w_scale),
             const(f"{layer.name}.w_zero_point", np.zeros(out_channels, np.int8)),
             const(f"{layer.name}.y_scale", scale_out), zero,
             const(f"{layer.name}.bias", np.asarray(layer.bias, np.int32))],
            [out], name=layer.name, **geometry))
        const(f"{layer.name}.x_scale", scale_in)
        if layer.relu:
            nodes.append(helper.make_node("Relu", [out], [f"{layer.name}.int8"],
                                          name=f"{layer.name}_relu"))
        current = f"{layer.name}.int8"
        if intermediates:
            oshape = tuple(layer.out_shape)
            dims = ["N", oshape[2], oshape[0], oshape[1]] if len(oshape) == 3 else \
                ["N", oshape[0], 1, 1]
            extra.append((current, dims))
        scale_in = scale_out
    classes = model.layers[-1].weight.shape[0]
    nodes.append(helper.make_node(
        "Reshape", [current, const("logits.shape", np.array([0, classes], np.int64))],
        ["logits_int8"], name="logits_int8"))
    nodes.append(helper.make_node(
        "DequantizeLinear", ["logits_int8", const("logits.scale", scale_in), zero], ["logits"],
        name="dequantize_logits"))
    outputs = [
        helper.make_tensor_value_info("logits_int8", TensorProto.INT8, ["N", classes]),
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes]),
    ] + [helper.make_tensor_value_info(name, TensorProto.INT8, dims) for name, dims in extra]
    graph = helper.make_graph(
        nodes, f"{model.name}_int8", [_input_info(helper, TensorProto, model.input_shape)],
        outputs, inits)
    return _model(helper, onnx, graph, INT8_OPSET, "tessera")
