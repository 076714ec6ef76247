"""Layer kinds: each kind is one class that carries everything that depends on it.

A layer (:class:`tessera.golden.nn.Layer` in float, :class:`tessera.golden.inference.QLayer` in
integers) holds its data: name, weights, geometry. Its ``kind`` attribute is one of the
:class:`LayerKind` objects registered in :data:`KINDS`, and the kind holds the behaviour:

- the **shape rule** (:meth:`LayerKind.out_shape`) and the consistency check of a layer's data;
- how the input is **lowered** to the GEMM operand of a weighted kind (``fc`` flattens, ``conv``
  runs im2col) and the adjoint of that lowering for training;
- the **float forward and backward** passes (training) and the **int8** pass (inference);
- its **energy** count (:mod:`tessera.golden.energy` supplies the picojoule figures);
- its **model-file fields**, with their types and ranges (:mod:`tessera.golden.modelfile` writes and
  validates them), and the file-format version that introduced it;
- the **engine** that runs it (``"sparse"``, ``"systolic"``, ``"pool"``).

Adding a kind is one subclass and one entry in :data:`KINDS` (see ``docs/layers.md``).

A kind compares equal to its name (``layer.kind == "conv"``) and prints as it, so code and files
that know kinds by name keep working; :func:`kind_of` turns a name into the kind.
"""

import numpy as np

from .errors import TesseraError, TesseraTypeError, _bounds
from .gemm import conv_output_size, gemm_int8, im2col
from .pool import max_pool, max_pool_backward, pool_output_size
from .quant import requantize

__all__ = ["FC", "KINDS", "Conv", "Field", "LayerKind", "MaxPool", "kind_of"]


class Field:
    """One model-file field of a layer: its JSON type, range, and whether ``null`` is allowed.

    ``kind`` is ``"int"``, ``"bool"``, ``"float"`` (finite), ``"str"``, ``"ints"`` (a list of
    integers, ``length`` long if given) or ``"floats"`` (a list of finite numbers).
    """

    def __init__(self, name, kind, *, low=None, high=None, length=None, nullable=False,
                 choices=None):
        self.name, self.kind, self.low, self.high = name, kind, low, high
        self.length, self.nullable, self.choices = length, nullable, choices

    def check(self, value, where):
        """Return ``value`` converted (tuple for lists) or raise naming ``where`` + the field."""
        label = f"{where}{self.name!r}"
        if value is None:
            if self.nullable:
                return None
            raise TesseraError(f"field {label} must not be null")
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise TesseraTypeError(f"field {label} must be true or false, not {value!r}")
            return value
        if self.kind == "str":
            if not isinstance(value, str):
                raise TesseraTypeError(f"field {label} must be a string, not {value!r}")
            if self.choices is not None and value not in self.choices:
                options = ", ".join(repr(c) for c in self.choices)
                raise TesseraError(f"field {label} must be one of {options}, not {value!r}")
            return value
        if self.kind in ("int", "float"):
            return self._number(value, label)
        if not isinstance(value, list):
            raise TesseraTypeError(f"field {label} must be a list, not {value!r}")
        if self.length is not None and len(value) != self.length:
            raise TesseraError(f"field {label} must have {self.length} entries, not {len(value)}")
        single = Field(self.name, self.kind[:-1], low=self.low, high=self.high)
        return tuple(single._number(v, f"{label}[{i}]") for i, v in enumerate(value))

    def _number(self, value, label):
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TesseraTypeError(f"field {label} must be an integer, not {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TesseraTypeError(f"field {label} must be a number, not {value!r}")
            if not np.isfinite(value):
                raise TesseraError(f"field {label} must be a finite number, not {value!r}")
        if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            raise TesseraError(f"field {label} must be {_bounds(self.low, self.high)}, "
                               f"not {value!r}")
        return value


#: The largest dimension a model file may declare (the arrays are checked against it as well).
MAX_DIM = 2**24


class LayerKind:
    """The behaviour of one kind of layer. Subclasses set the class attributes below.

    Attributes
    ----------
    name : str
        The kind's name in model files and messages.
    weighted : bool
        True for kinds with a weight matrix ``(out, in)``, a bias and requantization (they are
        pruned, shared and quantized); False for kinds that only move or select values.
    engine : str
        The engine that runs the kind: ``"sparse"``, ``"systolic"`` or ``"pool"``.
    version : int
        The first model-file format version that can hold the kind.
    fields : tuple of Field
        The kind's own model-file fields (besides ``name``, ``kind``, ``engine``, ``in_shape``
        and ``output_scale``, which every layer has).
    """

    name = ""
    weighted = True
    engine = ""
    version = 1
    fields = ()

    def __eq__(self, other):
        if isinstance(other, str):
            return other == self.name
        return isinstance(other, LayerKind) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return repr(self.name)

    def __str__(self):
        return self.name

    # -- shape -------------------------------------------------------------------------------
    def out_shape(self, layer):
        """Return the shape of one output of ``layer``."""
        raise NotImplementedError

    def check(self, layer):
        """Raise :class:`TesseraError` if ``layer``'s data disagree with its geometry."""
        self.out_shape(layer)

    # -- float -------------------------------------------------------------------------------
    def forward(self, layer, x):
        """Return ``(output, cache)`` of the float layer for the batch ``x``."""
        raise NotImplementedError

    def backward(self, layer, cache, grad, *, l2=0.0, need_input=True):
        """Return ``(input_gradient or None, (dW, db) or None)`` from the output gradient."""
        raise NotImplementedError

    # -- integer -----------------------------------------------------------------------------
    def run_int8(self, layer, x):
        """Return ``(int32 accumulators or None, int8 output)`` for the int8 batch ``x``."""
        raise NotImplementedError

    # -- energy ------------------------------------------------------------------------------
    def dense_energy(self, layer, pj):
        """Return ``[(part, picojoules), ...]`` of the dense fp32 estimate (weights in DRAM).

        Activation traffic (reading the input, writing the output) is counted by
        :mod:`tessera.golden.energy` for every kind alike and is not part of this list.
        """
        raise NotImplementedError

    def int8_energy(self, layer, model, inputs, pj):
        """Return ``[(part, picojoules), ...]`` per inference of the compressed int8 estimate.

        ``inputs`` is the batch of int8 inputs of this layer (from a trace of ``model``).
        """
        raise NotImplementedError

    # -- model file --------------------------------------------------------------------------
    def file_fields(self, layer):
        """Return the kind's own model-file fields of ``layer`` as a JSON-ready dict."""
        raise NotImplementedError


class _Weighted(LayerKind):
    """A weight matrix after a lowering: ``y = requantize(lower(x) @ W.T + b)``."""

    weighted = True
    fields = (
        Field("shape", "ints", low=1, high=MAX_DIM, length=2),
        Field("relu", "bool"),
        Field("kernel", "int", low=1, high=MAX_DIM),
        Field("stride", "int", low=1, high=MAX_DIM),
        Field("padding", "int", low=0, high=MAX_DIM),
        Field("bits", "int", low=1, high=8, nullable=True),
        Field("weight_scale", "floats", nullable=True),
    )

    def fan_in(self, layer):
        """Return the number of weight columns the layer's geometry needs."""
        raise NotImplementedError

    def lower(self, layer, x):
        """Return the GEMM operand: ``(n, in)`` for ``fc``, ``(n, OH, OW, K)`` for ``conv``."""
        raise NotImplementedError

    def raise_(self, layer, grad, in_shape):
        """The adjoint of :meth:`lower`: bring an operand gradient back to the input's shape."""
        raise NotImplementedError

    def positions(self, layer):
        """Return how many output positions share the weights (1 for ``fc``)."""
        return 1

    def macs(self, layer):
        """Return the multiply-accumulates of one inference."""
        return self.positions(layer) * layer.weight.size

    def check(self, layer):
        fan_in = layer.weight.shape[1]
        expected = self.fan_in(layer)
        if fan_in != expected:
            raise TesseraError(
                f"layer {layer.name}: weight has {fan_in} inputs but in_shape {layer.in_shape} "
                f"needs {expected}"
            )
        self.out_shape(layer)

    def forward(self, layer, x):
        inp = self.lower(layer, x)
        pre = inp @ layer.weight.T + layer.bias
        out = np.maximum(pre, 0.0) if layer.relu else pre
        return out, (x.shape, inp, pre)

    def backward(self, layer, cache, grad, *, l2=0.0, need_input=True):
        in_shape, inp, pre = cache
        grad = grad.reshape(pre.shape)
        if layer.relu:
            grad = grad * (pre > 0)
        g2 = grad.reshape(-1, grad.shape[-1])
        dw = g2.T @ inp.reshape(-1, inp.shape[-1]) + l2 * layer.weight
        params = (dw, g2.sum(axis=0))
        if not need_input:
            return None, params
        return self.raise_(layer, grad @ layer.weight, in_shape), params

    def accumulate(self, layer, x):
        """Return the int32 accumulators ``lower(x) @ W.T`` for an int8 batch ``x``."""
        raise NotImplementedError

    def run_int8(self, layer, x):
        acc = self.accumulate(layer, x)
        return acc, requantize(acc, layer.bias, layer.multiplier, layer.shift, relu=layer.relu)

    def dense_energy(self, layer, pj):
        n_out = int(np.prod(layer.out_shape))
        return [
            ("weights (DRAM)", (layer.weight.size + layer.bias.size) * pj["dram32"]),
            ("arithmetic", self.macs(layer) * (pj["fmult32"] + pj["fadd32"])),
            ("arithmetic", n_out * pj["fadd32"]),
        ]

    def _requantization(self, layer, pj):
        n_out = int(np.prod(layer.out_shape))
        return ("biases + requantization", n_out * (pj["sram32"] + pj["mult32"] + 2 * pj["add32"]))

    def file_fields(self, layer):
        return {
            "shape": list(layer.weight.shape), "relu": bool(layer.relu), "kernel": layer.kernel,
            "stride": layer.stride, "padding": layer.padding, "bits": layer.bits,
            "weight_scale": None if layer.weight_scale is None else list(
                np.asarray(layer.weight_scale, dtype=float)),
        }


class FC(_Weighted):
    """Fully connected: ``y = x @ W.T + b`` on the input flattened in ``(h, w, c)`` order.

    Runs on the sparse engine (EIE); compressed layers read only the non-zero columns' entries.
    """

    name = "fc"
    engine = "sparse"

    def out_shape(self, layer):
        return (layer.weight.shape[0],)

    def fan_in(self, layer):
        return int(np.prod(layer.in_shape))

    def lower(self, layer, x):
        return x.reshape(x.shape[0], -1)

    def raise_(self, layer, grad, in_shape):
        return grad.reshape(in_shape)

    def accumulate(self, layer, x):
        return gemm_int8(x.reshape(x.shape[0], -1), layer.weight.T)

    def int8_energy(self, layer, model, inputs, pj):
        from .eie import work

        batch = inputs.shape[0]
        matrix = model.eie(layer)
        x = inputs.reshape(batch, -1).T
        entries = work(matrix, x).sum() / batch  # padding included, zero columns skipped
        active = np.count_nonzero(x) / batch
        entry_words = entries * (matrix.index_bits + matrix.rel_bits) / 32
        pointer_words = active * matrix.n_pes * 2 * model.ptr_bits / 32
        return [
            ("weights + pointers (SRAM)", (entry_words + pointer_words) * pj["sram32"]),
            ("arithmetic", entries * (pj["mult8"] + pj["add32"])),
            self._requantization(layer, pj),
        ]


class Conv(_Weighted):
    """Convolution over NHWC: OHWI kernel as ``W (OC, KH*KW*C)``, ``y = im2col(x) @ W.T + b``.

    Square kernel, same stride and zero padding on both axes. Runs on the systolic engine.
    """

    name = "conv"
    engine = "systolic"

    def _hw(self, layer):
        if len(layer.in_shape) != 3:
            raise TesseraError(f"layer {layer.name}: a conv layer needs an (H, W, C) in_shape, "
                               f"not {tuple(layer.in_shape)}")
        return layer.in_shape

    def out_shape(self, layer):
        h, w, _ = self._hw(layer)
        return (
            conv_output_size(h, layer.kernel, layer.stride, layer.padding),
            conv_output_size(w, layer.kernel, layer.stride, layer.padding),
            layer.weight.shape[0],
        )

    def fan_in(self, layer):
        return layer.kernel * layer.kernel * self._hw(layer)[-1]

    def positions(self, layer):
        return int(np.prod(self.out_shape(layer)[:-1]))

    def lower(self, layer, x):
        return im2col(x, layer.kernel, stride=layer.stride, padding=layer.padding)

    def raise_(self, layer, grad, in_shape):
        return _col2im(grad, in_shape, layer.kernel, layer.stride, layer.padding)

    def accumulate(self, layer, x):
        patches = self.lower(layer, x)
        n, oh, ow, k = patches.shape
        return gemm_int8(patches.reshape(-1, k), layer.weight.T).reshape(n, oh, ow, -1)

    def int8_energy(self, layer, model, inputs, pj):
        return [
            ("weights + pointers (SRAM)", layer.weight.size / 4 * pj["sram32"]),
            ("arithmetic", self.macs(layer) * (pj["mult8"] + pj["add32"])),
            self._requantization(layer, pj),
        ]


def _col2im(patches, in_shape, kernel, stride, padding):
    """The adjoint of im2col: scatter-add patch gradients back onto the NHWC input."""
    n, oh, ow, _ = patches.shape
    h, w, c = in_shape[1:]
    out = np.zeros((n, h + 2 * padding, w + 2 * padding, c))
    p = patches.reshape(n, oh, ow, kernel, kernel, c)
    for i in range(kernel):
        for j in range(kernel):
            out[:, i : i + stride * oh : stride, j : j + stride * ow : stride] += p[:, :, :, i, j]
    return out[:, padding : padding + h, padding : padding + w]


class MaxPool(LayerKind):
    """Max pooling: a ``kernel x kernel`` window, stride ``stride``, no padding, over NHWC.

    No weights: a max-pool layer's ``weight``, ``bias``, ``multiplier`` and ``shift`` are None
    and its ``relu`` is False. In integers it is the maximum of the int8 map the previous layer
    wrote (no requantization: the output keeps the input's scale). Output size
    ``floor((H - kernel) / stride) + 1`` per axis; a window larger than the input is refused.
    """

    name = "maxpool"
    weighted = False
    engine = "pool"
    version = 2
    fields = (
        Field("kernel", "int", low=1, high=MAX_DIM),
        Field("stride", "int", low=1, high=MAX_DIM),
    )

    def out_shape(self, layer):
        if len(layer.in_shape) != 3:
            raise TesseraError(f"layer {layer.name}: a maxpool layer needs an (H, W, C) "
                               f"in_shape, not {tuple(layer.in_shape)}")
        h, w, c = layer.in_shape
        try:
            return (pool_output_size(h, layer.kernel, layer.stride),
                    pool_output_size(w, layer.kernel, layer.stride), c)
        except TesseraError as error:
            raise TesseraError(f"layer {layer.name}: {error}") from None

    def compares(self, layer):
        """Return the comparisons of one inference: ``kernel**2 - 1`` per output."""
        return int(np.prod(self.out_shape(layer))) * (layer.kernel * layer.kernel - 1)

    def _input(self, layer, x):
        return x.reshape(x.shape[0], *layer.in_shape)

    def forward(self, layer, x):
        x = self._input(layer, x)
        return max_pool(x, layer.kernel, layer.stride), x

    def backward(self, layer, cache, grad, *, l2=0.0, need_input=True):
        if not need_input:
            return None, None
        return max_pool_backward(cache, grad, layer.kernel, layer.stride), None

    def run_int8(self, layer, x):
        return None, max_pool(self._input(layer, x), layer.kernel, layer.stride)

    def dense_energy(self, layer, pj):
        return [("arithmetic", self.compares(layer) * pj["fadd32"])]  # a compare ~ an add

    def int8_energy(self, layer, model, inputs, pj):
        return [("arithmetic", self.compares(layer) * pj["add8"])]

    def file_fields(self, layer):
        return {"kernel": layer.kernel, "stride": layer.stride}


#: Every kind by name. Adding a kind: one class above and one entry here.
KINDS = {kind.name: kind for kind in (FC(), Conv(), MaxPool())}


def kind_of(value, where=""):
    """Return the :class:`LayerKind` named ``value`` (a kind is returned as is).

    Raises
    ------
    TesseraError
        Naming the kinds, if ``value`` is not one.
    """
    if isinstance(value, LayerKind):
        return value
    if isinstance(value, str) and value in KINDS:
        return KINDS[value]
    options = ", ".join(repr(name) for name in KINDS)
    raise TesseraError(f"{where}kind must be one of {options}, not {value!r}")
