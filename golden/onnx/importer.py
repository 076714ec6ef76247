"""Import a float ONNX model as golden's float :class:`~tessera.golden.nn.Network`.

The graph must be a chain from its one input to its one output. Its nodes are read in order and
mapped onto tessera's layers, which compute in NHWC and flatten images in ``(h, w, c)`` order:

- ``Conv`` (2-D, square kernel, equal strides, symmetric equal pads, dilation 1, group 1): a
  ``conv`` layer, the OIHW kernel becoming OHWI flattened to ``(OC, KH*KW*C)``;
- ``Gemm`` (``transA = 0``, ``transB`` 0 or 1, ``alpha`` and ``beta`` folded), ``MatMul`` with a
  constant right operand, and an ``Add`` of a constant after either: an ``fc`` layer;
- ``BatchNormalization`` (inference form): folded into the weights and bias of the layer before;
- ``Relu``: fused into the layer before (or, after a MaxPool, into the layer before the pool:
  ``relu(max(x)) == max(relu(x))``);
- ``Flatten`` (axis 1) and ``Reshape`` to ``[N, -1]``: the columns of the next ``fc`` layer are
  permuted from ONNX's ``(c, h, w)`` flattening to tessera's ``(h, w, c)``;
- ``MaxPool`` (square window, equal strides, no padding, floor mode): golden's ``maxpool``
  layer kind;
- ``AveragePool`` and ``GlobalAveragePool``: a linear map, folded into the following fully
  connected layer (refused with one line before anything else);
- ``Constant``, ``Identity``, ``Dropout``: pass-through; ``Softmax`` as the last node: dropped
  (the argmax does not change).

Anything else is a one-line :class:`~tessera.golden.errors.TesseraError` naming the node and its op.
"""

import numpy as np

from ..errors import TesseraError
from ..gemm import conv_output_size
from ..nn import Layer, Network
from ..systolic import MAX_DIM as SYSTOLIC_MAX_DIM
from .common import Graph, load_model, node_label, onnx_name

__all__ = ["SYSTOLIC_MAX_DIM", "import_float"]


class _Image:
    """An NCHW activation held by tessera as NHWC ``(h, w, c)``, possibly with a pending pooling.

    ``onnx_shape`` is the ``(C, H, W)`` ONNX sees; ``real`` the ``(h, w, c)`` tessera holds;
    ``lin`` (or None) maps tessera's flat ``(h*w*c,)`` to ONNX's flat ``(C*H*W,)`` when an
    average pool is pending: ``x_onnx = x_tessera @ lin``.
    """

    def __init__(self, real, onnx_shape, lin=None):
        self.real, self.onnx_shape, self.lin = tuple(real), tuple(onnx_shape), lin

    def flat_map(self):
        """The ``(h*w*c, C*H*W)`` matrix from tessera's flat layout to ONNX's flattening."""
        if self.lin is not None:
            return self.lin
        h, w, c = self.real
        index = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
        perm = np.zeros((h * w * c, h * w * c))
        perm[index, np.arange(h * w * c)] = 1.0
        return perm


class _Vector:
    """A flat activation: ``size`` values in tessera, ``x_onnx = x_tessera @ lin`` (or equal)."""

    def __init__(self, size, lin=None):
        self.size, self.lin = int(size), lin

    @property
    def onnx_size(self):
        return self.size if self.lin is None else self.lin.shape[1]


class _Importer:
    def __init__(self, graph, name):
        self.graph = graph
        self.name = name
        self.layers = []
        self.layer_nodes = []  # the ONNX node of each layer, for the QDQ import
        self.current = self.graph.input.name
        shape = self.graph.input.shape
        if len(shape) == 3:
            c, h, w = shape
            self.state = _Image((h, w, c), (c, h, w))
        else:
            self.state = _Vector(shape[0])
        self.last = None  # "layer", "bias-pending", "pool", or None: what produced self.current
        self.pooled_layer = None

    # -- helpers --------------------------------------------------------------------------
    def _takes_current(self, node, index=0):
        if len(node.input) <= index or node.input[index] != self.current:
            raise TesseraError(
                f"{node_label(node)}: tessera imports chains; this node does not take the output "
                f"of the node before it"
            )

    def _last_layer(self, node, what):
        if self.last != "layer" or not self.layers:
            raise TesseraError(f"{node_label(node)}: {what} must follow a Conv, Gemm or MatMul")
        layer = self.layers[-1]
        if layer.relu:
            raise TesseraError(f"{node_label(node)}: {what} after a Relu cannot be folded")
        return layer

    def _advance(self, node, last):
        self.current = node.output[0]
        self.last = last

    # -- ops ------------------------------------------------------------------------------
    def run(self):
        nodes = self.graph.nodes
        for position, node in enumerate(nodes):
            op = node.op_type
            if node.domain not in ("", "ai.onnx"):
                raise TesseraError(f"{node_label(node)}: op domain {node.domain!r} is not "
                                   f"supported")
            if op == "Constant":
                self.graph.add_constant(node)
                continue
            if op in ("Identity", "Dropout") and node.input[0] in self.graph.consts:
                self.graph.consts[node.output[0]] = self.graph.consts[node.input[0]]
                continue
            handler = getattr(self, f"_op_{op}", None)
            if handler is None:
                raise TesseraError(f"{node_label(node)}: unsupported op {op}")
            if op == "Softmax":
                self._op_Softmax(node, position == len(nodes) - 1)
            else:
                handler(node)
        if self.current != self.graph.output:
            raise TesseraError(f"the graph's output {self.graph.output!r} is not the end of the "
                               f"chain of layers")
        if not self.layers:
            raise TesseraError("the model has no Conv, Gemm or MatMul layer")
        if not isinstance(self.state, _Vector) or self.state.lin is not None:
            raise TesseraError("the model must end with a fully connected layer (Gemm or MatMul)")
        for layer in self.layers:
            if layer.kind.weighted and not (np.all(np.isfinite(layer.weight))
                                            and np.all(np.isfinite(layer.bias))):
                raise TesseraError(f"layer {layer.name}: weights or biases are not finite")
        return Network(self.name, self.layers)

    def _op_Identity(self, node):
        self._takes_current(node)
        self._advance(node, self.last)

    def _op_Dropout(self, node):
        self._op_Identity(node)

    def _op_Softmax(self, node, is_last):
        self._takes_current(node)
        if not is_last:
            raise TesseraError(f"{node_label(node)}: Softmax is supported only as the last node")
        axis = self.graph.attrs(node).get("axis", -1)
        if axis not in (1, -1):
            raise TesseraError(f"{node_label(node)}: Softmax over axis {axis} of the (N, classes) "
                               f"output is not supported")
        self._advance(node, self.last)

    def _op_Conv(self, node):
        self._takes_current(node)
        if not isinstance(self.state, _Image) or self.state.lin is not None:
            raise TesseraError(f"{node_label(node)}: a Conv must take an image (N, C, H, W)"
                               + ("" if self.state.__class__ is _Vector
                                  else "; an AveragePool before it cannot be folded"))
        attrs = self.graph.attrs(node)
        weight = np.asarray(self.graph.const(node.input[1], node, "weight"), dtype=np.float64)
        if weight.ndim != 4:
            raise TesseraError(f"{node_label(node)}: only 2-D convolutions are supported")
        oc, ic, kh, kw = weight.shape
        h, w, c = self.state.real
        if attrs.get("group", 1) != 1:
            raise TesseraError(f"{node_label(node)}: group {attrs['group']} is not supported "
                               f"(only group 1)")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise TesseraError(f"{node_label(node)}: dilations {attrs['dilations']} are not "
                               f"supported (only 1)")
        if kh != kw:
            raise TesseraError(f"{node_label(node)}: kernel {kh}x{kw} is not square")
        strides = list(attrs.get("strides", [1, 1]))
        if strides[0] != strides[1]:
            raise TesseraError(f"{node_label(node)}: strides {strides} differ between the axes")
        pads = self._pads(node, attrs, kh, (h, w), strides[0])
        if ic != c:
            raise TesseraError(f"{node_label(node)}: the kernel takes {ic} channels, the input "
                               f"has {c}")
        bias = np.zeros(oc)
        if len(node.input) > 2 and node.input[2]:
            bias = np.asarray(self.graph.const(node.input[2], node, "bias"), np.float64).ravel()
        k = kh * kw * c
        if k > SYSTOLIC_MAX_DIM or oc > SYSTOLIC_MAX_DIM:
            raise TesseraError(
                f"{node_label(node)}: too large for the systolic engine, whose GEMM dimensions are "
                f"at most {SYSTOLIC_MAX_DIM} (this convolution has KH*KW*C = {k}, OC = {oc})"
            )
        self.layer_nodes.append(node)
        layer = Layer(
            f"conv{self._count('conv') + 1}", "conv",
            weight.transpose(0, 2, 3, 1).reshape(oc, k).copy(), bias.copy(), False,
            (h, w, c), kh, strides[0], pads,
        )
        self.layers.append(layer)
        oh, ow, _ = layer.out_shape
        self.state = _Image((oh, ow, oc), (oc, oh, ow))
        self._advance(node, "layer")

    def _pads(self, node, attrs, kernel, size, stride):
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto == "VALID":
            return 0
        if auto != "NOTSET":
            raise TesseraError(f"{node_label(node)}: auto_pad {auto} is not supported; give "
                               f"explicit symmetric pads")
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(set(pads)) != 1:
            raise TesseraError(f"{node_label(node)}: pads {pads} are asymmetric or differ between "
                               f"the axes (only equal pads on every side)")
        if min(size) + 2 * pads[0] < kernel:
            raise TesseraError(f"{node_label(node)}: kernel {kernel} is larger than the padded "
                               f"input {size}")
        del stride
        return int(pads[0])

    def _count(self, kind):
        return sum(1 for layer in self.layers if layer.kind == kind)

    def _fc(self, node, weight, bias):
        """Append an fc layer with ONNX weight ``(out, in_onnx)``."""
        if not isinstance(self.state, _Vector):
            raise TesseraError(f"{node_label(node)}: takes a 4-D input; Flatten it first")
        out, fan_in = weight.shape
        if fan_in != self.state.onnx_size:
            raise TesseraError(f"{node_label(node)}: the weight takes {fan_in} inputs, the input "
                               f"has {self.state.onnx_size}")
        if self.state.lin is not None:
            weight = weight @ self.state.lin.T
        self.layer_nodes.append(node)
        layer = Layer(f"fc{self._count('fc') + 1}", "fc", np.ascontiguousarray(weight),
                      bias.copy(), False, (self.state.size,))
        self.layers.append(layer)
        self.state = _Vector(out)

    def _op_Gemm(self, node):
        self._takes_current(node)
        attrs = self.graph.attrs(node)
        if attrs.get("transA", 0) != 0:
            raise TesseraError(f"{node_label(node)}: transA = 1 is not supported")
        b = np.asarray(self.graph.const(node.input[1], node, "B operand"), dtype=np.float64)
        if b.ndim != 2:
            raise TesseraError(f"{node_label(node)}: B must be a matrix")
        weight = b if attrs.get("transB", 0) else b.T
        weight = weight * float(attrs.get("alpha", 1.0))
        bias = np.zeros(weight.shape[0])
        if len(node.input) > 2 and node.input[2]:
            c = np.asarray(self.graph.const(node.input[2], node, "C operand"), dtype=np.float64)
            bias = self._bias_vector(node, c, weight.shape[0]) * float(attrs.get("beta", 1.0))
        self._fc(node, weight, bias)
        self._advance(node, "layer")

    def _bias_vector(self, node, c, out):
        c = np.asarray(c, dtype=np.float64)
        if c.size == 1:
            return np.full(out, float(c.ravel()[0]))
        if c.size != out or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
            raise TesseraError(f"{node_label(node)}: the added constant of shape {c.shape} is "
                               f"not one value per output ({out})")
        return c.ravel().copy()

    def _op_MatMul(self, node):
        self._takes_current(node)
        b = np.asarray(self.graph.const(node.input[1], node, "right operand"), dtype=np.float64)
        if b.ndim != 2:
            raise TesseraError(f"{node_label(node)}: the right operand must be a matrix")
        self._fc(node, b.T.copy(), np.zeros(b.shape[1]))
        self._advance(node, "layer")

    def _op_Add(self, node):
        if node.input[0] == self.current:
            other = node.input[1]
        elif node.input[1] == self.current:
            other = node.input[0]
        else:
            self._takes_current(node)
        layer = self._last_layer(node, "Add")
        value = np.asarray(self.graph.const(other, node, "added operand"), dtype=np.float64)
        if layer.kind == "conv" and value.ndim == 3 and value.shape[1:] == (1, 1):
            value = value[:, 0, 0]
        if layer.kind == "conv" and value.ndim == 4 and value.shape[0] == 1 \
                and value.shape[2:] == (1, 1):
            value = value[0, :, 0, 0]
        layer.bias = layer.bias + self._bias_vector(node, value, layer.weight.shape[0])
        self._advance(node, "layer")

    def _op_Relu(self, node):
        self._takes_current(node)
        if self.last == "pool":
            layer = self.pooled_layer
            if layer is None or layer.relu:
                raise TesseraError(f"{node_label(node)}: a Relu after a MaxPool must directly "
                                   f"follow a Conv (without a Relu) through the pool")
        else:
            layer = self._last_layer(node, "Relu")
        layer.relu = True
        self._advance(node, self.last)

    def _op_BatchNormalization(self, node):
        self._takes_current(node)
        layer = self._last_layer(node, "BatchNormalization")
        attrs = self.graph.attrs(node)
        if attrs.get("training_mode", 0):
            raise TesseraError(f"{node_label(node)}: training_mode = 1 is not supported")
        if len(node.output) > 1 and any(node.output[1:]):
            raise TesseraError(f"{node_label(node)}: running-statistics outputs are not supported")
        gamma, beta, mean, var = (
            np.asarray(self.graph.const(name, node, what), dtype=np.float64).ravel()
            for name, what in zip(node.input[1:5], ("scale", "B", "mean", "var"))
        )
        out = layer.weight.shape[0]
        if not all(v.size == out for v in (gamma, beta, mean, var)):
            raise TesseraError(f"{node_label(node)}: parameters are not one per channel ({out})")
        scale = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
        layer.weight = layer.weight * scale[:, None]
        layer.bias = (layer.bias - mean) * scale + beta
        self._advance(node, "layer")

    def _flatten(self, node):
        if isinstance(self.state, _Image):
            self.state = _Vector(int(np.prod(self.state.real)), self.state.flat_map())
            if self.state.lin is not None and np.array_equal(
                    self.state.lin, np.eye(self.state.size)):
                self.state = _Vector(self.state.size)
        self._advance(node, "flatten" if self.last in ("pool", "flatten") or self.last is None
                      else self.last)

    def _op_Flatten(self, node):
        self._takes_current(node)
        axis = self.graph.attrs(node).get("axis", 1)
        if axis != 1:
            raise TesseraError(f"{node_label(node)}: Flatten axis {axis} is not supported "
                               f"(only 1)")
        self._flatten(node)

    def _op_Reshape(self, node):
        self._takes_current(node)
        shape = [int(s) for s in np.asarray(self.graph.const(node.input[1], node, "shape"))]
        allowzero = self.graph.attrs(node).get("allowzero", 0)
        size = (int(np.prod(self.state.onnx_shape)) if isinstance(self.state, _Image)
                else self.state.onnx_size)
        ok = len(shape) == 2 and (
            (shape[0] == 0 and not allowzero and shape[1] in (-1, size))
            or (shape[0] in (-1, 1) and shape[1] == size)
            or (shape[0] == 1 and shape[1] == -1)
        )
        if not ok:
            raise TesseraError(
                f"{node_label(node)}: Reshape to {shape}"
                + (" with allowzero = 1" if allowzero else "")
                + f" is not supported (only to [N, -1], here [0, -1], [-1, {size}] or [1, -1])"
            )
        self._flatten(node)

    def _op_MaxPool(self, node):
        self._takes_current(node)
        if not isinstance(self.state, _Image) or self.state.lin is not None:
            raise TesseraError(f"{node_label(node)}: MaxPool takes an image (N, C, H, W)"
                               + ("" if isinstance(self.state, _Vector)
                                  else "; an AveragePool before it cannot be folded"))
        if len(node.output) > 1 and any(node.output[1:]):
            raise TesseraError(f"{node_label(node)}: the Indices output is not supported")
        attrs = self.graph.attrs(node)
        if attrs.get("storage_order", 0):
            raise TesseraError(f"{node_label(node)}: storage_order = 1 is not supported")
        kernel, stride, pads = self._pool_geometry(node, attrs, False)
        if pads:
            raise TesseraError(f"{node_label(node)}: pads {attrs.get('pads')} are not supported "
                               f"(golden's max pooling has no padding)")
        previous = self.layers[-1] if self.last == "layer" and self.layers else None
        layer = Layer.max_pool(f"pool{self._count('maxpool') + 1}", self.state.real, kernel,
                               stride)
        self.layers.append(layer)
        oh, ow, c = layer.out_shape
        self.state = _Image((oh, ow, c), (c, oh, ow))
        # relu(max(x)) == max(relu(x)): a Relu after the pool goes into the layer before it.
        self.pooled_layer = previous if previous is not None and previous.kind.weighted else None
        self._advance(node, "pool")

    def _pool_geometry(self, node, attrs, global_pool):
        _, oh_in, ow_in = self.state.onnx_shape
        if global_pool:
            return oh_in, 1, 0
        kernel = list(attrs.get("kernel_shape", []))
        if len(kernel) != 2 or kernel[0] != kernel[1]:
            raise TesseraError(f"{node_label(node)}: kernel_shape {kernel} is not square 2-D")
        strides = list(attrs.get("strides", [1, 1]))
        if strides[0] != strides[1]:
            raise TesseraError(f"{node_label(node)}: strides {strides} differ between the axes")
        if attrs.get("ceil_mode", 0):
            raise TesseraError(f"{node_label(node)}: ceil_mode = 1 is not supported")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise TesseraError(f"{node_label(node)}: dilations are not supported")
        pads = self._pads(node, attrs, kernel[0], (oh_in, ow_in), strides[0])
        return kernel[0], strides[0], pads

    def _average(self, node, global_pool):
        if not isinstance(self.state, _Image):
            raise TesseraError(f"{node_label(node)}: takes an image (N, C, H, W)")
        attrs = self.graph.attrs(node)
        kernel, stride, pads = self._pool_geometry(node, attrs, global_pool)
        if pads and not attrs.get("count_include_pad", 0):
            raise TesseraError(f"{node_label(node)}: padding without count_include_pad is not "
                               f"supported")
        c, h, w = self.state.onnx_shape
        oh, ow = conv_output_size(h, kernel, stride, pads), conv_output_size(w, kernel, stride,
                                                                             pads)
        # pool: ONNX flat (c, h, w) -> ONNX flat (c, oh, ow), as a matrix applied on the right.
        pool = np.zeros((c * h * w, c * oh * ow))
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    col = (ch * oh + i) * ow + j
                    for di in range(kernel):
                        for dj in range(kernel):
                            y, x = i * stride - pads + di, j * stride - pads + dj
                            if 0 <= y < h and 0 <= x < w:
                                pool[(ch * h + y) * w + x, col] += 1.0 / kernel**2
        self.state = _Image(self.state.real, (c, oh, ow), self.state.flat_map() @ pool)
        self._advance(node, "avgpool")

    def _op_AveragePool(self, node):
        self._takes_current(node)
        self._average(node, False)

    def _op_GlobalAveragePool(self, node):
        self._takes_current(node)
        if not isinstance(self.state, _Image):
            raise TesseraError(f"{node_label(node)}: takes an image (N, C, H, W)")
        _, h, w = self.state.onnx_shape
        if h != w:
            raise TesseraError(f"{node_label(node)}: the image {h}x{w} is not square")
        self._average(node, True)


def import_float(source, *, name=None):
    """Import a float ONNX model.

    Parameters
    ----------
    source : path or onnx.ModelProto
    name : str or None
        The network's name (default: the file's stem, or ``"onnx"``).

    Returns
    -------
    (net, model_input) : (Network, ImportedInput)
        The float network (layers named ``conv1, conv2, ..., fc1, fc2, ...``) and the model's
        input, whose :meth:`~tessera.golden.onnx.common.ImportedInput.to_tessera` converts data
        in the ONNX layout to the network's.

    Raises
    ------
    TesseraError
        One line naming the file, the node or the op (see the module's docstring).
    """
    model = load_model(source)
    name = name or onnx_name(source)
    importer = _Importer(Graph(model), name)
    if importer.graph.elem_type != importer.graph.onnx.TensorProto.FLOAT:
        raise TesseraError(f"input {importer.graph.input.name!r} is not float32; for a quantized "
                           f"model use the QDQ import")
    try:
        net = importer.run()
    except TesseraError:
        raise
    except (ValueError, IndexError, TypeError) as error:
        raise TesseraError(f"the model is malformed: {error}") from None
    return net, importer.graph.input
