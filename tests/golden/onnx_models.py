"""ONNX models built with ``onnx.helper`` for the tests (no torch), in the shapes exporters write.

Every builder pins the IR version and the opset (a recent onnx writes versions an older
onnxruntime refuses) and takes a seed for its random weights.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8
OPSET = 13


class Builder:
    """A chain of nodes with float32 initializers, made into a checked ModelProto."""

    def __init__(self, seed, input_dims, *, batch="N", name="model"):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []
        self.input = helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                   [batch, *input_dims])
        self.current = "input"
        self.name = name
        self.count = 0

    def tensor(self, name, value):
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def random(self, name, shape, scale=0.3):
        return self.tensor(name, self.rng.normal(0, scale, shape).astype(np.float32))

    def node(self, op, inputs=(), *, out=None, **attrs):
        self.count += 1
        out = out or f"t{self.count}"
        self.nodes.append(helper.make_node(op, [self.current, *inputs], [out],
                                           name=f"{op.lower()}{self.count}", **attrs))
        self.current = out
        return self

    def conv(self, cin, cout, k=3, *, pad=1, stride=1, bias=True, **attrs):
        name = f"conv{self.count + 1}"
        inputs = [self.random(f"{name}.w", (cout, cin, k, k))]
        if bias:
            inputs.append(self.random(f"{name}.b", (cout,), 0.1))
        return self.node("Conv", inputs, kernel_shape=[k, k], pads=[pad] * 4,
                         strides=[stride] * 2, **attrs)

    def gemm(self, fan_in, out, *, trans_b=1, alpha=1.0, beta=1.0):
        name = f"gemm{self.count + 1}"
        shape = (out, fan_in) if trans_b else (fan_in, out)
        b = self.random(f"{name}.b", shape, 1 / np.sqrt(fan_in))
        c = self.random(f"{name}.c", (out,), 0.1)
        return self.node("Gemm", [b, c], transB=trans_b, alpha=alpha, beta=beta)

    def model(self, out_dims, *, opset=OPSET):
        self.nodes[-1].output[0] = "output"
        graph = helper.make_graph(
            self.nodes, self.name, [self.input],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", *out_dims])],
            self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def torch_like_cnn(seed=0, *, batch="N"):
    """Conv (BatchNorm folded: a bias), Relu, Conv stride 2, Relu, Flatten, Gemm transB=1, Relu,
    Gemm, Softmax: what ``torch.onnx.export`` writes for a small CNN in eval mode."""
    b = Builder(seed, [2, 8, 8], batch=batch, name="torch_like")
    b.conv(2, 4).node("Relu").conv(4, 6, stride=2).node("Relu").node("Flatten", axis=1)
    b.gemm(6 * 4 * 4, 16).node("Relu").gemm(16, 10).node("Softmax", axis=1)
    return b.model([10])


def lenet(seed=0, *, maxpool=True):
    """A LeNet-5-shaped CNN for the 8x8 digits: conv, relu, maxpool, conv, relu, flatten, gemm,
    gemm (with ``maxpool=False`` a stride-2 convolution replaces the pooling)."""
    b = Builder(seed, [1, 8, 8], name="lenet")
    if maxpool:
        b.conv(1, 6).node("Relu").node("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
        b.conv(6, 16)
    else:
        b.conv(1, 6).node("Relu").conv(6, 16, stride=2)
    b.node("Relu").node("Flatten", axis=1)
    b.gemm(16 * 4 * 4, 32).node("Relu").gemm(32, 10)
    return b.model([10])


def relu_after_pool(seed=0):
    """Conv, MaxPool, Relu (the order some exporters write: the Relu goes into the Conv)."""
    b = Builder(seed, [1, 8, 8], name="relu_after_pool")
    b.conv(1, 4).node("MaxPool", kernel_shape=[2, 2], strides=[2, 2]).node("Relu")
    b.node("Flatten", axis=1).gemm(4 * 4 * 4, 5)
    return b.model([5])


def batchnorm_reshape(seed=0, *, allowzero=0, shape=(0, -1)):
    """Conv, BatchNormalization, Relu, Reshape (with ``allowzero``), Gemm transB=0, alpha, beta."""
    b = Builder(seed, [3, 6, 6], name="bn_reshape")
    b.conv(3, 5, bias=False)
    rng = b.rng
    bn = [b.tensor(f"bn.{p}", v.astype(np.float32)) for p, v in (
        ("scale", rng.uniform(0.5, 1.5, 5)), ("b", rng.normal(0, 0.1, 5)),
        ("mean", rng.normal(0, 0.1, 5)), ("var", rng.uniform(0.5, 2.0, 5)))]
    b.node("BatchNormalization", bn, epsilon=1e-3).node("Relu")
    b.node("Reshape", [b.tensor("shape", np.array(shape, np.int64))], allowzero=allowzero)
    b.gemm(5 * 6 * 6, 7, trans_b=0, alpha=0.5, beta=2.0)
    return b.model([7], opset=14)  # allowzero appeared in opset 14


def constant_mlp(seed=0):
    """MatMul + Add with weights in Constant nodes, Identity and Dropout, on a flat input."""
    b = Builder(seed, [12], name="constant_mlp")
    rng = b.rng
    for i, (fan_in, out) in enumerate(((12, 20), (20, 5))):
        w = helper.make_tensor(f"w{i}", TensorProto.FLOAT, (fan_in, out),
                               rng.normal(0, 0.4, (fan_in, out)).astype(np.float32).ravel())
        c = helper.make_tensor(f"c{i}", TensorProto.FLOAT, (out,),
                               rng.normal(0, 0.1, out).astype(np.float32))
        b.nodes.append(helper.make_node("Constant", [], [f"W{i}"], name=f"const_w{i}", value=w))
        b.nodes.append(helper.make_node("Constant", [], [f"C{i}"], name=f"const_c{i}", value=c))
        b.node("MatMul", [f"W{i}"]).node("Add", [f"C{i}"])
        if i == 0:
            b.node("Relu").node("Dropout").node("Identity")
    return b.model([5])


def avgpool_cnn(seed=0, *, global_pool=False):
    """Conv, Relu, AveragePool (or GlobalAveragePool), Flatten, Gemm: the pool folds into the
    Gemm."""
    b = Builder(seed, [2, 6, 6], name="avgpool")
    b.conv(2, 4).node("Relu")
    if global_pool:
        b.node("GlobalAveragePool").node("Flatten", axis=1).gemm(4, 3)
    else:
        b.node("AveragePool", kernel_shape=[2, 2], strides=[2, 2])
        b.node("Flatten", axis=1).gemm(4 * 3 * 3, 3)
    return b.model([3])
