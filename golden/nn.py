"""Float models trained in NumPy: the MLP 64-300-100-10 and a small CNN, with masked training.

Deep Compression needs control a black-box trainer does not give: pruned weights must stay at zero
through retraining (gradients and weights multiplied by the mask), and weight sharing fine-tunes
centroids from the grouped gradients of their weights. A few dozen lines of NumPy do both.

Every layer is a weight *matrix* ``(out, in)`` with a bias and an optional ReLU, which is how the
hardware sees it and how pruning, sharing and the EIE format treat it:

- ``fc``: ``y = x @ W.T + b`` on flat inputs ``(n, in)`` (an NHWC input is flattened in
  ``(h, w, c)`` order first);
- ``conv``: NHWC input, OHWI kernel flattened to ``W`` of shape ``(OC, KH*KW*C)``,
  ``y = im2col(x) @ W.T + b`` (see :mod:`tessera.golden.gemm`);
- ``maxpool``: no weights; the maximum over each ``k x k`` window of an NHWC map
  (:mod:`tessera.golden.pool`), its gradient routed to the window's maximum.

The kinds (:mod:`tessera.golden.layers`) hold each kind's shape rule and forward and backward
passes; weightless layers are skipped by training, pruning and sharing.

Training (:func:`train`) is Adam on mini-batches with softmax cross-entropy and L2 weight decay,
deterministic for a seed: initialisation and shuffling use ``np.random.default_rng(seed)``.
"""

from dataclasses import dataclass, field, replace
from itertools import pairwise

import numpy as np

from .errors import TesseraError, check_int
from .layers import kind_of

__all__ = [
    "Adam",
    "Layer",
    "Network",
    "cnn",
    "finetune_centroids",
    "mlp",
    "train",
]


@dataclass
class Layer:
    """One layer of a network: a weight matrix, a bias, an optional ReLU (or a weightless kind).

    Attributes
    ----------
    name : str
    kind : tessera.golden.layers.LayerKind
        ``"fc"``, ``"conv"`` or ``"maxpool"`` (a name is turned into the kind; a kind compares
        equal to its name). The kind holds the shape rule and the forward and backward passes.
    weight : numpy.ndarray of float64, shape (out, in), or None
        None for a weightless kind (``maxpool``).
    bias : numpy.ndarray of float64, shape (out,), or None
    relu : bool
    in_shape : tuple of int
        ``(in,)`` for ``fc``; ``(H, W, C)`` for ``conv`` and ``maxpool``.
    kernel, stride, padding : int
        Convolution or pooling geometry (square windows, same on both axes); unused for ``fc``.
    """

    name: str
    kind: object
    weight: np.ndarray
    bias: np.ndarray
    relu: bool
    in_shape: tuple
    kernel: int = 1
    stride: int = 1
    padding: int = 0

    def __post_init__(self):
        self.kind = kind_of(self.kind, f"layer {self.name}: ")

    @classmethod
    def max_pool(cls, name, in_shape, kernel, stride):
        """Return a float max-pool layer: ``kernel x kernel`` window, ``stride``, no padding."""
        layer = cls(name, "maxpool", None, None, False, tuple(in_shape), kernel, stride, 0)
        layer.kind.check(layer)
        return layer

    @property
    def out_shape(self):
        """The shape of one output: ``(out,)`` for ``fc``; ``(OH, OW, C)`` otherwise."""
        return self.kind.out_shape(self)

    def copy(self):
        """Return a deep copy."""
        if not self.kind.weighted:
            return replace(self)
        return replace(self, weight=self.weight.copy(), bias=self.bias.copy())


def _he(rng, out, fan_in):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(out, fan_in))


@dataclass
class Network:
    """A feed-forward stack of :class:`Layer` (the last layer has no ReLU: it gives logits)."""

    name: str
    layers: list = field(default_factory=list)

    def copy(self):
        """Return a deep copy."""
        return Network(self.name, [layer.copy() for layer in self.layers])

    @property
    def input_shape(self):
        """Shape of one input: ``(64,)`` for the MLP, ``(8, 8, 1)`` for the CNN."""
        return tuple(self.layers[0].in_shape)

    def prepare(self, x):
        """Reshape flat digit inputs ``(n, 64)`` to the network's input shape."""
        return np.asarray(x, dtype=np.float64).reshape((-1, *self.input_shape))

    @property
    def weighted(self):
        """The layers that have weights (are trained, pruned and shared), in order."""
        return [layer for layer in self.layers if layer.kind.weighted]

    def forward(self, x, *, keep=False):
        """Return the logits for inputs ``x``; with ``keep`` also the per-layer caches."""
        x = self.prepare(x)
        caches = []
        for layer in self.layers:
            x, cache = layer.kind.forward(layer, x)
            if keep:
                caches.append(cache)
        return (x, caches) if keep else x

    def activations(self, x):
        """Return the output of every layer (after ReLU) for inputs ``x``: a list of arrays."""
        x = self.prepare(x)
        outs = []
        for layer in self.layers:
            x, _ = layer.kind.forward(layer, x)
            outs.append(x)
        return outs

    def gradients(self, x, y, *, l2=0.0):
        """Return ``(loss, grads)`` of mean softmax cross-entropy + ``l2/2 * |W|^2``.

        ``grads`` has one ``(dW, db)`` per layer, None for a weightless layer.
        """
        logits, caches = self.forward(x, keep=True)
        logits = logits.reshape(logits.shape[0], -1)
        shifted = logits - logits.max(axis=1, keepdims=True)
        prob = np.exp(shifted)
        prob /= prob.sum(axis=1, keepdims=True)
        n = logits.shape[0]
        loss = -np.log(prob[np.arange(n), y] + 1e-12).mean()
        grad = prob
        grad[np.arange(n), y] -= 1.0
        grad /= n
        grads = [None] * len(self.layers)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            grad, grads[i] = layer.kind.backward(layer, caches[i], grad, l2=l2, need_input=i > 0)
        loss += 0.5 * l2 * sum(float((layer.weight**2).sum()) for layer in self.weighted)
        return loss, grads

    def predict(self, x):
        """Return the predicted class of each input."""
        return np.argmax(self.forward(x).reshape(len(x), -1), axis=1)

    def accuracy(self, x, y):
        """Return the fraction of inputs classified correctly."""
        return float(np.mean(self.predict(x) == np.asarray(y)))


def mlp(seed=0, sizes=(64, 300, 100, 10)):
    """Return the MLP in the shape of LeNet-300-100 (64-300-100-10, ReLU), He-initialised."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, out) in enumerate(pairwise(sizes)):
        layers.append(Layer(f"fc{i + 1}", "fc", _he(rng, out, fan_in), np.zeros(out),
                            relu=i < len(sizes) - 2, in_shape=(fan_in,)))
    return Network("mlp", layers)


def cnn(seed=0, channels=(8, 16), hidden=64):
    """Return the small CNN for 8x8 digits (NHWC), He-initialised.

    ``conv1`` 3x3, 1 -> 8 channels, padding 1 (8x8x8); ``conv2`` 3x3, 8 -> 16 channels, stride 2,
    padding 1 (4x4x16 = 256); ``fc1`` 256 -> 64; ``fc2`` 64 -> 10. Strided convolution instead of
    pooling keeps every layer a GEMM plus the shared requantization.
    """
    rng = np.random.default_rng(seed)
    c1, c2 = channels
    layers = [
        Layer("conv1", "conv", _he(rng, c1, 9), np.zeros(c1), True, (8, 8, 1), 3, 1, 1),
        Layer("conv2", "conv", _he(rng, c2, 9 * c1), np.zeros(c2), True, (8, 8, c1), 3, 2, 1),
        Layer("fc1", "fc", _he(rng, hidden, 16 * c2), np.zeros(hidden), True, (16 * c2,)),
        Layer("fc2", "fc", _he(rng, 10, hidden), np.zeros(10), False, (hidden,)),
    ]
    return Network("cnn", layers)


class Adam:
    """The Adam optimiser (Kingma and Ba) over a list of arrays, updated in place."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        """Apply one update with the given gradients (same order as the parameters)."""
        self.t += 1
        c1 = 1 - self.beta1**self.t
        c2 = 1 - self.beta2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def _batches(rng, n, batch_size):
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _check_training(epochs, lr, batch_size):
    check_int(epochs, "epochs", 0, None)
    if not lr > 0:
        raise TesseraError(f"learning rate must be positive, not {lr!r}")
    check_int(batch_size, "batch size", 1, None)


def train(net, x, y, *, epochs, lr=1e-3, batch_size=32, l2=1e-4, seed=0, masks=None):
    """Train ``net`` in place with Adam; pruned weights (``masks``) stay exactly zero.

    Parameters
    ----------
    net : Network
    x, y : numpy.ndarray
        Inputs ``(n, 64)`` in [0, 1] and integer labels.
    epochs : int
    lr : float
    batch_size : int
    l2 : float
        Weight decay on the weights (not the biases).
    seed : int
        Seeds the mini-batch order.
    masks : list of (numpy.ndarray of bool or None) or None
        One mask per layer (True = kept): weights and their gradients are multiplied by it
        (None for a weightless layer).

    Returns
    -------
    Network
        ``net`` itself.
    """
    _check_training(epochs, lr, batch_size)
    rng = np.random.default_rng(seed)
    masks = masks or [None] * len(net.layers)
    for layer, mask in zip(net.layers, masks):
        if mask is not None:
            layer.weight *= mask
    params = [p for layer in net.weighted for p in (layer.weight, layer.bias)]
    opt = Adam(params, lr)
    for _ in range(epochs):
        for batch in _batches(rng, len(x), batch_size):
            _, grads = net.gradients(x[batch], y[batch], l2=l2)
            flat = []
            for pair, mask in zip(grads, masks):
                if pair is not None:
                    dw, db = pair
                    flat += [dw if mask is None else dw * mask, db]
            opt.step(flat)
            for layer, mask in zip(net.layers, masks):
                if mask is not None:
                    layer.weight *= mask
    return net


def finetune_centroids(net, codebooks, indices, x, y, *, epochs, lr=1e-4, batch_size=32, seed=0):
    """Fine-tune shared weights: update each codebook from the grouped gradients of its weights.

    Layer ``i``'s weights are ``codebooks[i][indices[i]]`` throughout; centroid ``k``'s gradient
    is the sum of the gradients of the weights with index ``k`` (Deep Compression, Fig. 3).
    ``codebooks[i][0]`` is the reserved zero and never moves. Biases train as usual. The
    codebooks are updated in place and ``net``'s weights set to the shared values. A weightless
    layer's codebook and indices are None.
    """
    from .share import centroid_gradients

    _check_training(epochs, lr, batch_size)
    rng = np.random.default_rng(seed)
    shared = [(layer, book, idx) for layer, book, idx in zip(net.layers, codebooks, indices)
              if layer.kind.weighted]
    for layer, book, idx in shared:
        layer.weight[...] = book[idx]
    params = [book for _, book, _ in shared] + [layer.bias for layer, _, _ in shared]
    opt = Adam(params, lr)
    for _ in range(epochs):
        for batch in _batches(rng, len(x), batch_size):
            _, grads = net.gradients(x[batch], y[batch], l2=0.0)
            grads = [pair for pair in grads if pair is not None]
            book_grads = [centroid_gradients(dw, idx, book.size)
                          for (dw, _), (_, book, idx) in zip(grads, shared)]
            opt.step(book_grads + [db for _, db in grads])
            for layer, book, idx in shared:
                book[0] = 0.0
                layer.weight[...] = book[idx]
    return net
