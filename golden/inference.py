"""Integer models and the bit-exact specification of end-to-end integer inference.

:func:`run_int8` is what the hardware runs, integer for integer: an int8 input goes through every
layer as

- ``fc``: ``acc = x @ W.T`` (int32; on the sparse engine the same numbers come from
  :func:`tessera.golden.eie.spmv` on the layer's EIE encoding, column by column);
- ``conv``: ``acc = im2col(x) @ W.T`` (int32, NHWC, see :mod:`tessera.golden.gemm`; the systolic
  engine's GEMM);

then the shared post-processing ``y = requantize(acc, bias, multiplier, shift, relu)``
(:mod:`tessera.golden.quant`) gives the int8 input of the next layer. A ``maxpool`` layer has no
accumulators: its int8 output is the maximum of each window of the int8 map the previous layer
wrote (:mod:`tessera.golden.pool`), at the same scale. An NHWC output feeding an ``fc`` layer is
flattened in ``(h, w, c)`` order. Each kind's rule lives in :mod:`tessera.golden.layers`. The
last layer's int8 output is the logits; the prediction is their argmax (the lowest class on a tie).

A model is a list of :class:`QLayer`. A *compressed* layer also carries its codebook (int8,
``2**bits`` entries, index 0 = 0) and the index of every weight; its ``weight`` is then exactly
``codebook[indices]``, and :meth:`QModel.eie` encodes it for the sparse engine.
"""

from dataclasses import dataclass, field

import numpy as np

from .eie import encode
from .errors import TesseraError, check_int_array
from .layers import kind_of
from .quant import quantize

__all__ = ["QLayer", "QModel", "Trace", "run_int8"]


@dataclass
class QLayer:
    """One integer layer: int8 weights, int32 bias and the requantization parameters.

    Attributes
    ----------
    name, kind, relu, in_shape, kernel, stride, padding
        As for the float layer, :class:`tessera.golden.nn.Layer`.
    weight : numpy.ndarray of int8, shape (out, in), or None
        For ``conv``: the OHWI kernel flattened to ``(OC, KH*KW*C)``. None for ``maxpool``.
    bias : numpy.ndarray of int32, shape (out,), or None
        At the accumulator's scale ``input_scale * weight_scale``.
    multiplier, shift : numpy.ndarray of int64, shape (out,), or None
        Requantization per output channel (equal entries for a per-tensor scale).
    weight_scale : numpy.ndarray of float64, shape (out,)
        Real value of one weight step, per output channel.
    output_scale : float
        Real value of one step of the int8 output.
    codebook : numpy.ndarray of int8 or None
        For a compressed layer: ``2**bits`` integer centroids, ``codebook[0] == 0``.
    indices : numpy.ndarray of int64 or None
        For a compressed layer: the codebook index of every weight, shape (out, in).
    engine : {"sparse", "systolic", "pool"}
        Which engine the layer is meant for; None (the default) takes the kind's: FC layers the
        sparse PE array, convolutions the systolic array, max pooling the pool unit.
    """

    name: str
    kind: object
    weight: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    relu: bool
    in_shape: tuple
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    weight_scale: np.ndarray = None
    output_scale: float = 1.0
    codebook: np.ndarray = None
    indices: np.ndarray = None
    engine: str = None

    def __post_init__(self):
        self.kind = kind_of(self.kind, f"layer {self.name}: ")
        if self.engine is None:
            self.engine = self.kind.engine
        self.in_shape = tuple(int(s) for s in self.in_shape)
        if not self.kind.weighted:
            for attr in ("weight", "bias", "multiplier", "shift", "codebook", "indices"):
                if getattr(self, attr) is not None:
                    raise TesseraError(f"layer {self.name}: a {self.kind} layer has no {attr}")
            if self.relu:
                raise TesseraError(f"layer {self.name}: a {self.kind} layer has no ReLU")
            self.kind.check(self)
            return
        self.weight = np.asarray(self.weight)
        if self.weight.ndim != 2 or self.weight.dtype != np.int8:
            raise TesseraError(f"layer {self.name}: weight must be a 2-D int8 matrix")
        out = self.weight.shape[0]
        for attr in ("bias", "multiplier", "shift"):
            value = check_int_array(getattr(self, attr), f"layer {self.name}: {attr}", ndim=1)
            if value.shape != (out,):
                raise TesseraError(
                    f"layer {self.name}: {attr} must have {out} entries (one per output), not "
                    f"{value.shape[0]}"
                )
        self.kind.check(self)
        if self.codebook is not None:
            book = np.asarray(self.codebook)
            idx = np.asarray(self.indices)
            if idx.shape != self.weight.shape or book.ndim != 1 or book[0] != 0:
                raise TesseraError(f"layer {self.name}: codebook or indices are malformed")
            if idx.min() < 0 or idx.max() >= book.size or np.any(book[idx] != self.weight):
                raise TesseraError(f"layer {self.name}: weights differ from codebook[indices]")

    @classmethod
    def max_pool(cls, name, in_shape, kernel, stride, *, output_scale=1.0):
        """Return an integer max-pool layer: ``kernel x kernel`` window, ``stride``, no padding.

        ``output_scale`` is the scale of its input (a maximum does not change it).
        """
        return cls(name, "maxpool", None, None, None, None, False, tuple(in_shape), kernel,
                   stride, 0, output_scale=output_scale)

    @property
    def out_shape(self):
        """The shape of one output: ``(out,)`` for ``fc``; ``(OH, OW, C)`` otherwise."""
        return self.kind.out_shape(self)

    @property
    def bits(self):
        """Codebook index width of a compressed layer (None for a plain int8 layer)."""
        return None if self.codebook is None else int(np.log2(len(self.codebook)))

    def accumulate(self, x):
        """Return the int32 accumulators of this (weighted) layer for an int8 batch ``x``."""
        if not self.kind.weighted:
            raise TesseraError(f"layer {self.name}: a {self.kind} layer has no accumulators")
        return self.kind.accumulate(self, x)


@dataclass
class Trace:
    """Every layer's int8 input, int32 accumulators and int8 output, for hardware tests.

    A weightless layer (``maxpool``) has None for its accumulators.
    """

    inputs: list = field(default_factory=list)
    accumulators: list = field(default_factory=list)
    outputs: list = field(default_factory=list)


@dataclass
class QModel:
    """An integer model: input quantization, layers, and the EIE parameters of its encoding.

    Attributes
    ----------
    name : str
        ``"mlp"`` or ``"cnn"``.
    input_shape : tuple of int
        Shape of one input: ``(64,)`` or ``(8, 8, 1)``.
    input_scale : float
        Real value of one int8 input step (inputs in [0, 1] -> ``1/127``).
    layers : list of QLayer
    n_pes, rel_bits, ptr_bits : int
        How :meth:`eie` encodes compressed layers.
    """

    name: str
    input_shape: tuple
    input_scale: float
    layers: list
    n_pes: int = 4
    rel_bits: int = 4
    ptr_bits: int = 16

    @property
    def compressed(self):
        """True when every weighted layer has a codebook."""
        return all(layer.codebook is not None for layer in self.layers if layer.kind.weighted)

    def quantize_input(self, x):
        """Quantize real inputs ``(n, 64)`` in [0, 1] to int8 in the model's input shape."""
        x = np.asarray(x, dtype=np.float64)
        size = int(np.prod(self.input_shape))
        if x.ndim < 1 or x.size % size or (x.ndim > 1 and x[0].size != size):
            raise TesseraError(f"inputs of {x.shape[-1] if x.ndim else 0} values do not fit the "
                               f"model's input shape {tuple(self.input_shape)}")
        return quantize(x, self.input_scale).reshape((-1, *self.input_shape))

    def eie(self, layer, *, n_pes=None, rel_bits=None, ptr_bits=None):
        """Return a compressed layer's weights in EIE format (by name or QLayer).

        Raises
        ------
        TesseraError
            If the layer has no codebook or cannot be encoded with the widths.
        """
        if isinstance(layer, str):
            matches = [q for q in self.layers if q.name == layer]
            if not matches:
                raise TesseraError(f"no layer named {layer!r}")
            layer = matches[0]
        if not layer.kind.weighted:
            raise TesseraError(f"layer {layer.name} is a {layer.kind} layer: it has no weights")
        if layer.codebook is None:
            raise TesseraError(f"layer {layer.name} is not weight-shared: it has no codebook")
        try:
            return encode(
                layer.indices, layer.codebook.astype(np.int64),
                n_pes=self.n_pes if n_pes is None else n_pes,
                rel_bits=self.rel_bits if rel_bits is None else rel_bits,
                index_bits=layer.bits,
                ptr_bits=self.ptr_bits if ptr_bits is None else ptr_bits,
            )
        except TesseraError as error:
            raise TesseraError(f"layer {layer.name}: {error}") from None

    def run(self, x_q, *, trace=False):
        """Run :func:`run_int8` on this model."""
        return run_int8(self, x_q, trace=trace)

    def predict(self, x):
        """Return the predicted classes for real inputs ``(n, 64)`` in [0, 1]."""
        logits = run_int8(self, self.quantize_input(x))
        return np.argmax(logits, axis=1)

    def accuracy(self, x, y):
        """Return the fraction of real inputs classified correctly by integer inference."""
        return float(np.mean(self.predict(x) == np.asarray(y)))


def run_int8(model, x_q, *, trace=False):
    """Run integer inference: the bit-exact specification of what the hardware computes.

    Parameters
    ----------
    model : QModel
    x_q : array_like of int8
        A batch of quantized inputs, shape ``(n, *model.input_shape)`` (see
        :meth:`QModel.quantize_input`).
    trace : bool
        Also return a :class:`Trace` of every layer's input, accumulators and output.

    Returns
    -------
    numpy.ndarray of int8, shape (n, classes)
        The last layer's requantized outputs (logits); with ``trace``, ``(logits, trace)``.

    Raises
    ------
    TesseraError
        If the input is not int8-valued or has the wrong shape.
    """
    x = np.asarray(x_q)
    if x.dtype != np.int8:
        raise TesseraError(f"integer inference takes int8 inputs, not {x.dtype}")
    if x.shape[1:] != tuple(model.input_shape):
        raise TesseraError(
            f"inputs must have shape (n, {', '.join(map(str, model.input_shape))}), not {x.shape}"
        )
    record = Trace() if trace else None
    for layer in model.layers:
        acc, out = layer.kind.run_int8(layer, x)
        if record is not None:
            record.inputs.append(x)
            record.accumulators.append(acc)
            record.outputs.append(out)
        x = out
    logits = x.reshape(x.shape[0], -1)
    return (logits, record) if trace else logits

