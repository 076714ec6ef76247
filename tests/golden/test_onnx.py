"""ONNX import and export against onnxruntime, the independent reference.

- float import: the imported network equals onnxruntime to 1e-5 on models in the shapes exporters
  write (Gemm transB=1, folded and explicit BatchNorm, Flatten, Reshape with allowzero, weights in
  Constant nodes, external data, AveragePool folded, a LeNet-shaped CNN);
- round trip: the built-in MLP and CNN -> ONNX -> tessera give the same weights and accuracy;
- int8 export: onnxruntime's QLinearConv model equals tessera's run_int8 wherever the two rounding
  rules agree, and the argmax agrees on every test digit;
- QDQ import: a quantize_static model agrees with onnxruntime within 1 LSB per layer;
- bad input: one line naming the node, the op or the file.
"""

import numpy as np
import onnx
import pytest
from tessera.golden.errors import TesseraError
from tessera.golden.nn import train
from tessera.golden.onnx import export_float, export_qmodel, import_float, import_qdq
from tessera.golden.pipeline import quantize_network, train_float

from . import onnx_models as zoo

ort = pytest.importorskip("onnxruntime")


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_ort(model, x):
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x})))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


FLOAT_MODELS = {
    "torch_like": lambda: zoo.torch_like_cnn(1),
    "torch_like_batch1": lambda: zoo.torch_like_cnn(2, batch=1),
    "lenet": lambda: zoo.lenet(3),
    "lenet_strided": lambda: zoo.lenet(3, maxpool=False),
    "relu_after_maxpool": lambda: zoo.relu_after_pool(10),
    "batchnorm_reshape": lambda: zoo.batchnorm_reshape(4),
    "reshape_minus1": lambda: zoo.batchnorm_reshape(5, shape=(-1, 180)),
    "reshape_allowzero_1": lambda: zoo.batchnorm_reshape(6, allowzero=1, shape=(1, -1)),
    "constant_mlp": lambda: zoo.constant_mlp(7),
    "avgpool": lambda: zoo.avgpool_cnn(8),
    "global_avgpool": lambda: zoo.avgpool_cnn(9, global_pool=True),
}


@pytest.mark.parametrize("name", FLOAT_MODELS)
def test_float_import_equals_onnxruntime(name):
    seed = sum(map(ord, name))
    model = FLOAT_MODELS[name]()
    net, model_input = import_float(model)
    batch = 1 if name.endswith("batch1") or "allowzero_1" in name else 16
    x = np.random.default_rng(seed).uniform(0, 1, (batch, *model_input.shape)).astype(np.float32)
    expected = run_ort(model, x)["output"]
    got = net.forward(model_input.to_tessera(x)).reshape(batch, -1)
    if model.graph.node[-1].op_type == "Softmax":
        got = softmax(got)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5,
                               err_msg=f"{name} (input seed {seed})")


def test_batchnorm_and_columns_are_really_transformed():
    """The folds are not no-ops: the imported weights differ from the raw ONNX tensors."""
    model = zoo.batchnorm_reshape(4)
    net, _ = import_float(model)
    raw = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    conv_raw = raw["conv1.w"].transpose(0, 2, 3, 1).reshape(5, -1)
    assert not np.allclose(net.layers[0].weight, conv_raw)  # BatchNorm scaled it
    fc_raw = 0.5 * raw["gemm5.b"].T  # alpha folded, columns in ONNX's (c, h, w) order
    assert not np.allclose(net.layers[1].weight, fc_raw)
    assert np.allclose(np.sort(net.layers[1].weight, axis=1), np.sort(fc_raw, axis=1))


def test_external_data(tmp_path):
    model = zoo.torch_like_cnn(11)
    path = tmp_path / "model.onnx"
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0)
    assert (tmp_path / "model.onnx.data").exists()
    net, _ = import_float(path)
    reference, _ = import_float(zoo.torch_like_cnn(11))  # save_model moved `model`'s data out
    for a, b in zip(net.layers, reference.layers):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    (tmp_path / "model.onnx.data").unlink()
    with pytest.raises(TesseraError, match=r"model\.onnx\.data") as info:
        import_float(path)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def trained(model_cache, digits):
    """The built-in MLP and CNN, and a LeNet-shaped CNN with max pooling imported and trained."""
    nets = {m: train_float(m, 0, data=digits, cache_dir=model_cache)[0] for m in ("mlp", "cnn")}
    lenet, _ = import_float(zoo.lenet(0))
    train(lenet, digits.x_train, digits.y_train, epochs=10, seed=0)
    nets["lenet"] = lenet
    return nets


@pytest.mark.parametrize("which", ["mlp", "cnn", "lenet"])
def test_round_trip_builtin_float(trained, digits, which):
    net = trained[which]
    back, model_input = import_float(export_float(net))
    assert [(l.name, l.kind, l.relu, l.in_shape, l.kernel, l.stride, l.padding)
            for l in back.layers] == [(l.name, l.kind, l.relu, tuple(l.in_shape), l.kernel,
                                       l.stride, l.padding) for l in net.layers]
    for a, b in zip(net.weighted, back.weighted):  # ONNX stores float32
        assert np.array_equal(a.weight.astype(np.float32), b.weight), a.name
        assert np.array_equal(a.bias.astype(np.float32), b.bias), a.name
    x = model_input.to_tessera(model_input.from_tessera(digits.x_test))
    assert back.accuracy(x, digits.y_test) == net.accuracy(digits.x_test, digits.y_test)
    expected = run_ort(export_float(net), model_input.from_tessera(digits.x_test))["logits"]
    got = back.forward(x).reshape(len(x), -1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    print(f"{which}: float import vs onnxruntime, max |error| {np.abs(got - expected).max():.2e}"
          f" on logits up to {np.abs(expected).max():.1f}")


def requantization_disagreements(layer, x_q, ort_out):
    """Where onnxruntime's float32 ties-to-even rule and tessera's fixed point may differ.

    Returns the positions at which the exact value ``(acc + bias) * M / 2**s`` is within float32
    rounding of a half-integer (a tie, or nearly one, for one rule and not the other).
    """
    acc = layer.accumulate(x_q).astype(np.int64) + layer.bias.astype(np.int64)
    m, s = layer.multiplier.astype(np.int64), layer.shift.astype(np.int64)
    num = acc * m  # exact: |acc| < 2**31, M < 2**16
    frac = (num % (1 << s)) / np.exp2(s)  # fractional part of the exact value, in [0, 1)
    magnitude = np.abs(num) / np.exp2(s)
    return np.abs(frac - 0.5) <= 1e-6 * np.maximum(1.0, magnitude)


@pytest.mark.parametrize("which", ["mlp", "cnn", "lenet"])
def test_int8_export_equals_run_int8(trained, digits, which):
    from tessera.golden.onnx import ImportedInput

    qmodel = quantize_network(trained[which], digits.x_train)
    exported = export_qmodel(qmodel, intermediates=True)
    shape = qmodel.input_shape
    model_input = ImportedInput("input", (shape[2], shape[0], shape[1]) if len(shape) == 3
                                else tuple(shape))
    outs = run_ort(exported, model_input.from_tessera(digits.x_test))

    def nhwc(a):
        return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a

    ort_x = nhwc(outs["input_int8"]).reshape(len(digits.x_test), *shape)
    ties_input = int(np.sum(ort_x != qmodel.quantize_input(digits.x_test)))
    ambiguous_samples = np.zeros(len(ort_x), dtype=bool)
    x = ort_x
    for layer in qmodel.layers:
        ort_y = nhwc(outs[f"{layer.name}.int8"]).reshape(len(x), *layer.out_shape)
        _, mine = layer.kind.run_int8(layer, x)  # golden's int8 pass of this one layer
        mine = mine.reshape(ort_y.shape)
        differ = mine != ort_y
        if not layer.kind.weighted:  # max pooling: no rounding, equal everywhere
            assert np.array_equal(mine, ort_y), f"{which} {layer.name}"
            x = ort_y
            continue
        ambiguous = requantization_disagreements(layer, x, ort_y).reshape(ort_y.shape)
        assert not np.any(differ & ~ambiguous), (
            f"{which} {layer.name}: {int(np.sum(differ & ~ambiguous))} outputs differ away "
            f"from a tie")
        assert np.all(np.abs(mine.astype(int) - ort_y.astype(int))[differ] == 1)
        ambiguous_samples |= ambiguous.reshape(len(x), -1).any(axis=1)
        x = ort_y  # the next layer takes onnxruntime's values: compare each layer on its own
    logits = qmodel.run(qmodel.quantize_input(digits.x_test))
    equal = np.all(logits == outs["logits_int8"], axis=1)
    assert np.all(equal | ambiguous_samples), "logits differ on a digit with no tie on its way"
    assert np.array_equal(np.argmax(logits, axis=1), np.argmax(outs["logits_int8"], axis=1))
    scale = np.float32(qmodel.layers[-1].output_scale)
    np.testing.assert_allclose(outs["logits"][equal], logits[equal] * scale, rtol=1e-6)
    print(f"{which}: {equal.mean():.4f} of digits with equal logits, "
          f"{ambiguous_samples.sum()} with a tie, {ties_input} input ties")


def quantize_static_model(float_model, x, tmp_path, **options):
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": x[i:i + 64]} for i in range(0, len(x), 64)])

        def get_next(self):
            return next(self.batches, None)

    src, dst = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    onnx.save_model(float_model, src)
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                    weight_type=QuantType.QInt8, **options)
    return onnx.load(dst)


def to_nhwc(a, shape):
    """An ONNX int8 tensor (NCHW, or flat in (c, h, w) order) in tessera's layout ``shape``."""
    n = len(a)
    if len(shape) == 3 and a.ndim == 2:  # flattened by ONNX: (c, h, w)
        h, w, c = shape
        a = a.reshape(n, c, h, w)
    if a.ndim == 4:
        a = a.transpose(0, 2, 3, 1)
    return a.reshape(n, *shape)


@pytest.mark.parametrize("which", ["cnn", "lenet"])
def test_qdq_import_within_one_lsb(trained, digits, tmp_path, which):
    from onnxruntime.quantization import QuantType
    from tessera.golden.quant import requantize

    net = trained[which]
    float_model = export_float(net)
    _, model_input = import_float(float_model)
    x = model_input.from_tessera(digits.x_train)
    model = quantize_static_model(float_model, x, tmp_path, per_channel=True,
                                  activation_type=QuantType.QInt8,
                                  extra_options={"ActivationSymmetric": True})
    qmodel, qinput = import_qdq(model)
    assert [(q.name, q.kind, q.relu) for q in qmodel.layers] == [
        (layer.name, layer.kind, layer.relu) for layer in net.layers]
    # Every tensor onnxruntime quantizes becomes an output, to compare layer by layer.
    quantized = [n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in quantized:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT8,
                                                                     None))
    x_test = qinput.from_tessera(digits.x_test)
    outs = run_ort(probe, x_test)
    # The float tensors before and after each layer, as export_float names them.
    feeds = {node.name: node.input[0] for node in float_model.graph.node}
    worst = 0
    for i, layer in enumerate(qmodel.layers):
        if not layer.kind.weighted:
            continue
        x_q = to_nhwc(outs[f"{feeds[layer.name]}_QuantizeLinear_Output"],
                      qmodel.layers[i - 1].out_shape if i else qmodel.input_shape)
        x_q = x_q.reshape(len(x_test), *layer.in_shape)
        out = f"{layer.name}.relu" if layer.relu else layer.name
        y = to_nhwc(outs[f"{out}_QuantizeLinear_Output"], layer.out_shape)
        mine = requantize(layer.accumulate(x_q), layer.bias, layer.multiplier, layer.shift,
                          relu=layer.relu)
        diff = np.abs(mine.astype(int) - y.astype(int))
        worst = max(worst, int(diff.max()))
        assert diff.max() <= 1, f"{which} {layer.name}: {int(diff.max())} LSB"
    logits = qmodel.run(qmodel.quantize_input(digits.x_test))
    agree = np.mean(np.argmax(logits, 1) == np.argmax(outs["logits"], 1))
    assert agree >= 0.99, agree
    assert qmodel.accuracy(digits.x_test, digits.y_test) >= 0.95
    print(f"QDQ {which}: worst layer difference {worst} LSB, argmax agreement {agree:.4f}")


def test_qdq_relu_with_its_own_scale(trained, digits, tmp_path):
    """A ReLU re-quantized to another scale: tessera rounds once, into the scale after the ReLU,
    and stays within 1 LSB of onnxruntime's two roundings."""
    from onnxruntime.quantization import QuantType
    from tessera.golden.quant import requantize

    float_model = export_float(trained["mlp"])
    _, model_input = import_float(float_model)
    model = quantize_static_model(float_model, model_input.from_tessera(digits.x_train),
                                  tmp_path, per_channel=True, activation_type=QuantType.QInt8,
                                  extra_options={"ActivationSymmetric": True})
    for tensor in model.graph.initializer:  # fc2's bias scale follows its input scale
        if tensor.name in ("fc1.relu_scale", "fc2.bias_quantized_scale"):
            value = onnx.numpy_helper.to_array(tensor) * np.float32(1.3)
            tensor.CopyFrom(onnx.numpy_helper.from_array(value, tensor.name))
            if tensor.name == "fc1.relu_scale":
                relu_scale = float(value)
    qmodel, _ = import_qdq(model)
    fc1 = qmodel.layers[0]
    assert fc1.output_scale == relu_scale
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in ("input_QuantizeLinear_Output", "fc1.relu_QuantizeLinear_Output"):
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT8,
                                                                     None))
    outs = run_ort(probe, model_input.from_tessera(digits.x_test))
    mine = requantize(fc1.accumulate(outs["input_QuantizeLinear_Output"]), fc1.bias,
                      fc1.multiplier, fc1.shift, relu=True)
    diff = np.abs(mine.astype(int) - outs["fc1.relu_QuantizeLinear_Output"].astype(int))
    assert diff.max() <= 1 and np.mean(diff == 0) > 0.75  # 86 % equal, measured


def test_qdq_default_asymmetric_is_refused(trained, digits, tmp_path):
    float_model = export_float(trained["mlp"])
    _, model_input = import_float(float_model)
    model = quantize_static_model(float_model, model_input.from_tessera(digits.x_train[:128]),
                                  tmp_path)
    with pytest.raises(TesseraError, match="ActivationSymmetric") as info:
        import_qdq(model)
    assert "\n" not in str(info.value) and "zero point" in str(info.value)


# -- bad input -------------------------------------------------------------------------------

def replace_node(model, index, node):
    model.graph.node[index].CopyFrom(node)
    return model


def with_attr(model, op, **attrs):
    for node in model.graph.node:
        if node.op_type == op:
            for key, value in attrs.items():
                for i, attr in enumerate(node.attribute):
                    if attr.name == key:
                        del node.attribute[i]
                        break
                node.attribute.append(onnx.helper.make_attribute(key, value))
            return model
    raise AssertionError(op)


def bad_op():
    model = zoo.torch_like_cnn(0)
    node = model.graph.node[1]
    node.op_type = "Sigmoid"
    return model


def dynamic_dim():
    model = zoo.torch_like_cnn(0)
    dim = model.graph.input[0].type.tensor_type.shape.dim[2]
    dim.dim_param = "H"
    return model


def grouped():
    b = zoo.Builder(0, [4, 6, 6])
    b.node("Conv", [b.random("w", (4, 2, 3, 3))], kernel_shape=[3, 3], group=2)
    b.node("Flatten", axis=1).gemm(4 * 4 * 4, 2)
    return b.model([2])


def too_large():
    b = zoo.Builder(0, [8192, 3, 3])
    b.conv(8192, 1, pad=0, bias=False).node("Flatten", axis=1).gemm(1, 2)
    return b.model([2])


BAD_MODELS = {
    "unsupported op": (bad_op, "'relu2' .*Sigmoid"),
    "dilation": (lambda: with_attr(zoo.torch_like_cnn(0), "Conv", dilations=[2, 2]),
                 "conv1.*dilations"),
    "asymmetric pads": (lambda: with_attr(zoo.torch_like_cnn(0), "Conv", pads=[1, 1, 0, 0]),
                        "conv1.*pads .* asymmetric"),
    "group": (grouped, "conv1.*group 2"),
    "dynamic dimension": (dynamic_dim, "dimension 2 is dynamic .*'H'"),
    "fixed batch 4": (lambda: zoo.torch_like_cnn(0, batch=4), "batch dimension"),
    "reshape allowzero": (lambda: zoo.batchnorm_reshape(0, allowzero=1), "allowzero"),
    "softmax not last": (lambda: with_attr(zoo.torch_like_cnn(0), "Softmax", axis=0),
                         "Softmax over axis 0"),
    "too large for the systolic engine": (too_large, "65535"),
    "maxpool with pads": (lambda: with_attr(zoo.lenet(0), "MaxPool", pads=[1, 1, 1, 1]),
                          "maxpool3.*pads"),
    "maxpool indices": (lambda: with_attr(zoo.lenet(0), "MaxPool", storage_order=1),
                        "storage_order"),
}


@pytest.mark.parametrize("case", BAD_MODELS)
def test_bad_models_one_line(case):
    build, pattern = BAD_MODELS[case]
    with pytest.raises(TesseraError, match=pattern) as info:
        import_float(build())
    assert "\n" not in str(info.value)


def test_not_onnx_and_truncated(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x89PNG not a model" * 10)
    with pytest.raises(TesseraError, match=r"junk\.onnx is not an ONNX model"):
        import_float(junk)
    data = zoo.torch_like_cnn(0).SerializeToString()
    for cut in (len(data) // 2, len(data) - 7, 30):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(TesseraError, match=f"cut{cut}.onnx") as info:
            import_float(path)
        assert "\n" not in str(info.value)
    with pytest.raises(TesseraError, match="no such ONNX file"):
        import_float(tmp_path / "missing.onnx")
