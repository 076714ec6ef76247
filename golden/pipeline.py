"""The Deep Compression pipeline: train, prune iteratively, share weights, quantize to integers.

:func:`compress` runs the whole of it on the digits:

1. train the float model (or load it from the cache under ``<cache>/models/``, keyed by model,
   seed, split and training hyper-parameters);
2. quantize the float model to a dense int8 model (per-output-channel weight scales) for the
   "int8 dense" accuracy;
3. prune iteratively (Han et al.): ``prune_steps`` steps of magnitude pruning on a cubic schedule
   to each layer's target, each followed by masked retraining;
4. share weights: 1-D k-means per layer (linear initialisation, ``2**bits - 1`` non-zero centroids,
   index 0 = 0), then fine-tune the centroids from grouped gradients;
5. quantize: integer codebooks (int8, one scale per layer), activation scales calibrated on the
   training set, int32 biases and (multiplier, shift) pairs (:mod:`tessera.golden.quant`);
6. encode every layer in EIE's format (which checks the widths) and measure the test accuracy of
   integer inference (:func:`tessera.golden.inference.run_int8`).

Training runs with BLAS limited to one thread: the matrices are small, and on a shared 2-core
machine OpenBLAS threads spinning against other jobs made training ten times slower.
"""

import hashlib
import json
import os
import time
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .data import load_digits_split
from .errors import TesseraError, check_int
from .inference import QLayer, QModel
from .nn import Network, cnn, finetune_centroids, mlp, train
from .prune import magnitude_mask, schedule
from .quant import (
    calibrate_scale,
    quantize,
    quantize_bias,
    quantize_multiplier,
)
from .share import check_bits, quantize_codebook, share_weights

__all__ = [
    "MODELS",
    "CompressionConfig",
    "CompressionResult",
    "TrainingConfig",
    "compress",
    "compress_network",
    "default_onnx_settings",
    "parse_per_layer",
    "quantize_network",
    "train_float",
]

#: Bump when the architectures or the training code change: it invalidates cached models.
CACHE_VERSION = 1


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of float training (part of the cache key)."""

    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 32
    l2: float = 1e-4


@dataclass(frozen=True)
class CompressionConfig:
    """Hyper-parameters of pruning and weight sharing."""

    prune_steps: int = 6
    retrain_epochs: int = 12
    retrain_lr: float = 5e-4
    finetune_epochs: int = 6
    finetune_lr: float = 2e-4


@dataclass(frozen=True)
class ModelSpec:
    """A model the pipeline knows: its builder, layer names and default compression."""

    build: object
    layers: tuple
    prune: tuple
    bits: tuple
    training: TrainingConfig = TrainingConfig()
    compression: CompressionConfig = CompressionConfig()


MODELS = {
    "mlp": ModelSpec(mlp, ("fc1", "fc2", "fc3"), prune=(0.90, 0.93, 0.60), bits=(4, 4, 4)),
    "cnn": ModelSpec(
        cnn, ("conv1", "conv2", "fc1", "fc2"), prune=(0.3, 0.7, 0.93, 0.7), bits=(8, 8, 4, 4)
    ),
}


@contextmanager
def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(1):
        yield


def _spec(model):
    if model not in MODELS:
        raise TesseraError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    return MODELS[model]


def parse_per_layer(value, names, what, check):
    """Turn a global or per-layer setting into one value per layer.

    ``value`` may be None (use the defaults: returns None), a number, a sequence with one number
    per layer, a mapping ``{name: number}`` (other layers keep their defaults: missing ones are
    None), or a string: ``"0.9"``, ``"0.9,0.95,0.7"`` or ``"fc1=0.9,fc3=0.7"``. ``check``
    validates and converts each number.

    Raises
    ------
    TesseraError
        On a malformed string, a wrong number of values, an unknown layer name or a value that
        ``check`` rejects.
    """
    if value is None:
        return None
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts:
            raise TesseraError(f"{what} is empty")
        if all("=" in p for p in parts):
            value = {}
            for part in parts:
                key, _, number = part.partition("=")
                value[key.strip()] = number.strip()
        elif any("=" in p for p in parts):
            raise TesseraError(f"{what}: give either one value, one per layer, or name=value pairs")
        else:
            value = parts if len(parts) > 1 else parts[0]
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise TesseraError(
                f"{what}: unknown layer {unknown[0]!r}; layers are {', '.join(names)}"
            )
        return [check(value[name]) if name in value else None for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise TesseraError(
                f"{what}: need 1 or {len(names)} values ({', '.join(names)}), not {len(value)}"
            )
        return [check(v) for v in value]
    return [check(value)] * len(names)


def _prune_value(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TesseraError(f"prune fraction must be a number, not {value!r}") from None
    if not 0 <= number < 1:
        raise TesseraError(f"prune fraction must be in [0, 1), not {number:g}")
    return number


def _bits_value(value):
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise TesseraError(f"bits must be an integer, not {value!r}") from None
    return check_bits(number)


def _cache_key(model, seed, split_seed, training):
    payload = json.dumps(
        {"model": model, "seed": seed, "split_seed": split_seed, "training": asdict(training),
         "version": CACHE_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def default_cache_dir():
    """``$TESSERA_MODEL_CACHE`` or ``models/`` of the user's cache (:mod:`.cachedir`)."""
    from .cachedir import cache_root

    explicit = os.environ.get("TESSERA_MODEL_CACHE")
    return Path(explicit) if explicit else cache_root() / "models"


def train_float(model="mlp", seed=0, *, data=None, training=None, cache_dir=None, use_cache=True):
    """Return the trained float :class:`~tessera.golden.nn.Network`, from the cache when possible.

    Returns
    -------
    (network, cached) : (Network, bool)
        ``cached`` tells whether the model came from the cache.
    """
    spec = _spec(model)
    training = training or spec.training
    data = data or load_digits_split()
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    path = cache_dir / f"{model}-seed{seed}-{_cache_key(model, seed, data.seed, training)}.npz"
    net = spec.build(seed)
    if use_cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                for layer in net.weighted:
                    w, b = f[f"{layer.name}.weight"], f[f"{layer.name}.bias"]
                    if w.shape != layer.weight.shape or b.shape != layer.bias.shape:
                        raise ValueError("shape")
                    layer.weight, layer.bias = w.astype(np.float64), b.astype(np.float64)
            return net, True
        # A damaged entry of any kind (cut: BadZipFile or EOFError) is retrained, not fatal.
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            net = spec.build(seed)  # a stale or broken cache entry: retrain and overwrite it
    with _one_blas_thread():
        train(net, data.x_train, data.y_train, epochs=training.epochs, lr=training.lr,
              batch_size=training.batch_size, l2=training.l2, seed=seed)
    if use_cache:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        arrays = {}
        for layer in net.weighted:
            arrays[f"{layer.name}.weight"] = layer.weight
            arrays[f"{layer.name}.bias"] = layer.bias
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # atomic: parallel test workers may race for the same entry
    return net, False


def quantize_network(net, x_calibration, *, codebooks=None, indices=None, per_channel=True):
    """Quantize a float network to a :class:`~tessera.golden.inference.QModel`.

    Scales: the input and every layer's output are calibrated per tensor on ``x_calibration``
    (max |value| -> 127); weights either per output channel (``per_channel``; a channel's scale
    is at least 1/256 of the tensor's, so dead units keep their biases in int32) or, for a shared
    layer, through its codebook (one scale per layer,
    :func:`tessera.golden.share.quantize_codebook`).
    Biases are rounded to the accumulator scale; the requantization factor
    ``scale_in * scale_w / scale_out`` becomes (multiplier, shift).

    ``codebooks`` and ``indices`` (one per layer, or None) make the layers compressed: their int8
    weights are then exactly ``int_codebook[indices]``. A weightless layer (``maxpool``) has None
    there; it becomes the same integer layer, whose output keeps its input's scale.
    """
    x_calibration = net.prepare(x_calibration)
    input_scale = calibrate_scale(x_calibration)
    if codebooks is not None:
        net = net.copy()
        for layer, book, idx in zip(net.layers, codebooks, indices):
            if layer.kind.weighted:
                layer.weight = np.asarray(book, dtype=np.float64)[idx]
    outputs = net.activations(x_calibration)
    layers = []
    scale_in = input_scale
    for i, layer in enumerate(net.layers):
        if not layer.kind.weighted:  # a maximum keeps the scale of its input
            layers.append(QLayer(layer.name, layer.kind, None, None, None, None, False,
                                 tuple(layer.in_shape), layer.kernel, layer.stride,
                                 layer.padding, output_scale=scale_in))
            continue
        out = layer.weight.shape[0]
        int_book, idx = None, None
        if codebooks is not None:
            int_book, w_scale = quantize_codebook(codebooks[i])
            idx = np.asarray(indices[i], dtype=np.int64)
            weight = int_book[idx]
            w_scale = np.full(out, w_scale)
        elif per_channel:
            # A channel far smaller than the rest (a dead unit) would get a scale so fine that
            # its bias overflows int32: floor each channel's scale at 1/256 of the tensor's.
            w_scale = np.maximum(calibrate_scale(layer.weight, channel_axis=0),
                                 calibrate_scale(layer.weight) / 256)
            weight = quantize(layer.weight, w_scale, channel_axis=0)
        else:
            w_scale = np.full(out, calibrate_scale(layer.weight))
            weight = quantize(layer.weight, w_scale[0])
        scale_out = calibrate_scale(outputs[i])
        multiplier, shift = quantize_multiplier(scale_in * w_scale / scale_out)
        layers.append(QLayer(
            layer.name, layer.kind, weight.astype(np.int8),
            quantize_bias(layer.bias, scale_in * w_scale),
            np.asarray(multiplier, np.int64), np.asarray(shift, np.int64), layer.relu,
            tuple(layer.in_shape), layer.kernel, layer.stride, layer.padding,
            weight_scale=w_scale, output_scale=scale_out, codebook=int_book, indices=idx,
            engine=layer.kind.engine,
        ))
        scale_in = scale_out
    return QModel(net.name, net.input_shape, input_scale, layers)


@dataclass
class CompressionResult:
    """Everything :func:`compress` produced: models, accuracies, settings and timings."""

    model: QModel
    int8_model: QModel
    float_net: Network
    accuracy_float: float
    accuracy_int8: float
    accuracy_pruned: float
    accuracy_shared: float
    accuracy_compressed: float
    settings: dict
    seconds: dict = field(default_factory=dict)
    cached: bool = False


def compress(model="mlp", seed=0, *, prune=None, bits=None, n_pes=4, rel_bits=4, ptr_bits=16,
             data=None, cache_dir=None, use_cache=True, log=None):
    """Run the Deep Compression pipeline on the digits and return a :class:`CompressionResult`.

    Parameters
    ----------
    model : {"mlp", "cnn"}
    seed : int
        Seeds initialisation, batch order and k-means; the data split is fixed (seed 0).
    prune : float, sequence, mapping, str or None
        Fraction of weights to prune, global or per layer (see :func:`parse_per_layer`); None
        uses the model's defaults.
    bits : int, sequence, mapping, str or None
        Codebook-index width per layer (1..8), same forms.
    n_pes, rel_bits, ptr_bits : int
        The EIE encoding: number of PEs, relative-index width, column-pointer width.
    data : tessera.golden.data.Digits or None
    cache_dir : path or None
        Where trained float models are cached (default :func:`default_cache_dir`).
    use_cache : bool
    log : callable or None
        Called with progress messages (one line each).

    Raises
    ------
    TesseraError
        On an unknown model, a prune fraction outside [0, 1), bits outside 1..8, or a layer that
        cannot be encoded with the widths (e.g. more entries in a PE than ``ptr_bits`` address).
    """
    spec = _spec(model)
    # Bad settings fail before anything is trained.
    _check_settings(spec.layers, prune, bits, spec.prune, spec.bits, n_pes, rel_bits, ptr_bits)
    data = data or load_digits_split()
    log = log or (lambda message: None)
    start = time.perf_counter()
    net, cached = train_float(model, seed, data=data, cache_dir=cache_dir, use_cache=use_cache)
    train_seconds = time.perf_counter() - start
    how = "cached" if cached else f"trained in {train_seconds:.1f} s"
    log(f"float {model}: test accuracy {net.accuracy(data.x_test, data.y_test):.4f} ({how})")
    result = compress_network(
        net, data, seed, prune=prune, bits=bits, default_prune=spec.prune,
        default_bits=spec.bits, n_pes=n_pes, rel_bits=rel_bits, ptr_bits=ptr_bits,
        compression=spec.compression, l2=spec.training.l2, log=log,
    )
    result.seconds = {"train": train_seconds, **result.seconds}
    result.cached = cached
    result.settings["model"] = model
    result.settings["training"] = asdict(spec.training)
    return result


def _check_settings(names, prune, bits, default_prune, default_bits, n_pes, rel_bits, ptr_bits):
    """Validate the settings; return the per-layer prune fractions and bits."""
    prune_list = parse_per_layer(prune, names, "--prune", _prune_value) or [None] * len(names)
    bits_list = parse_per_layer(bits, names, "--bits", _bits_value) or [None] * len(names)
    prune_list = [d if p is None else p for p, d in zip(prune_list, default_prune)]
    bits_list = [d if b is None else b for b, d in zip(bits_list, default_bits)]
    for name, value, low, high in (("n_pes", n_pes, 1, 4096), ("rel_bits", rel_bits, 1, 8),
                                   ("ptr_bits", ptr_bits, 1, 32)):
        check_int(value, name, low, high)
    return prune_list, bits_list


def default_onnx_settings(net):
    """Default prune fractions and bits for an imported network: ``(prune, bits)`` per layer.

    Convolutions keep more weights (prune 0.5, 8-bit codebooks), fully connected layers follow
    Deep Compression's LeNet figures (prune 0.9, 4 bits), the last layer is pruned less (0.6).
    """
    prune, bits = [], []
    weighted = net.weighted
    for i, layer in enumerate(weighted):
        last = i == len(weighted) - 1
        prune.append(0.5 if layer.kind == "conv" else 0.6 if last else 0.9)
        bits.append(8 if layer.kind == "conv" else 4)
    return tuple(prune), tuple(bits)


def compress_network(net, data, seed=0, *, prune=None, bits=None, default_prune, default_bits,
                     n_pes=4, rel_bits=4, ptr_bits=16, compression=None, l2=1e-4, log=None,
                     retrain=True):
    """Deep Compression of a trained float network: steps 2 to 6 of :func:`compress`.

    Parameters
    ----------
    net : Network
        The trained float network (not modified).
    data : tessera.golden.data.Digits
        Inputs flat in the network's layout. With ``retrain``, ``x_train``/``y_train`` retrain
        and fine-tune, and ``x_test``/``y_test`` measure the accuracies; without it only
        ``x_train`` is used (to calibrate the int8 scales) and the accuracies are None.
    seed : int
    prune, bits : as for :func:`compress`
    default_prune, default_bits : sequence
        One value per layer, used where ``prune``/``bits`` give none.
    n_pes, rel_bits, ptr_bits : int
    compression : CompressionConfig or None
    l2 : float
        Weight decay of the masked retraining.
    log : callable or None
    retrain : bool
        False compresses one-shot: one magnitude-pruning step, k-means sharing, no retraining
        and no fine-tuning.

    Returns
    -------
    CompressionResult
        ``float_net`` is ``net``; ``settings`` lacks the model name and training settings.
    """
    names = tuple(layer.name for layer in net.layers if layer.kind.weighted)
    prune_list, bits_list = _check_settings(names, prune, bits, default_prune, default_bits,
                                            n_pes, rel_bits, ptr_bits)
    log = log or (lambda message: None)
    cfg = compression or CompressionConfig()
    seconds = {}

    def accuracy(model):
        return model.accuracy(data.x_test, data.y_test) if retrain else None

    acc_float = accuracy(net)
    int8_model = quantize_network(net, data.x_train)
    acc_int8 = accuracy(int8_model)

    start = time.perf_counter()
    pruned = net.copy()
    weighted = [i for i, layer in enumerate(net.layers) if layer.kind.weighted]  # one per name
    masks = [None] * len(net.layers)
    if retrain:
        steps = [schedule(p, cfg.prune_steps) for p in prune_list]
        with _one_blas_thread():
            for step in range(cfg.prune_steps):
                for j, i in enumerate(weighted):
                    masks[i] = magnitude_mask(pruned.layers[i].weight, steps[j][step],
                                              mask=masks[i])
                train(pruned, data.x_train, data.y_train, epochs=cfg.retrain_epochs,
                      lr=cfg.retrain_lr, l2=l2, seed=seed + 1 + step, masks=masks)
    else:
        for j, i in enumerate(weighted):
            masks[i] = magnitude_mask(pruned.layers[i].weight, prune_list[j])
            pruned.layers[i].weight *= masks[i]
    seconds["prune"] = time.perf_counter() - start
    acc_pruned = accuracy(pruned)
    if retrain:
        log(f"pruned ({cfg.prune_steps} steps of prune + retrain): test accuracy "
            f"{acc_pruned:.4f}")
    else:
        log("pruned one-shot (no retraining: no labels)")

    start = time.perf_counter()
    codebooks, indices = [None] * len(net.layers), [None] * len(net.layers)
    for i, b in zip(weighted, bits_list):
        codebooks[i], indices[i] = share_weights(pruned.layers[i].weight, b, mask=masks[i],
                                                 seed=seed)
    shared = pruned.copy()
    if retrain:
        with _one_blas_thread():
            finetune_centroids(shared, codebooks, indices, data.x_train, data.y_train,
                               epochs=cfg.finetune_epochs, lr=cfg.finetune_lr, seed=seed)
    else:
        for i in weighted:
            shared.layers[i].weight = np.asarray(codebooks[i], dtype=np.float64)[indices[i]]
    seconds["share"] = time.perf_counter() - start
    acc_shared = accuracy(shared)
    log(f"shared ({', '.join(f'{n} {b}-bit' for n, b in zip(names, bits_list))})"
        + (f": test accuracy {acc_shared:.4f}" if retrain else ", centroids not fine-tuned"))

    compressed = quantize_network(shared, data.x_train, codebooks=codebooks, indices=indices)
    compressed.n_pes, compressed.rel_bits, compressed.ptr_bits = n_pes, rel_bits, ptr_bits
    for layer in compressed.layers:
        if layer.kind.weighted:
            compressed.eie(layer)  # raises a one-line error when a width does not suffice
    acc_compressed = accuracy(compressed)
    log(f"compressed int8: test accuracy {acc_compressed:.4f}" if retrain
        else "compressed int8: accuracy not measured (no labels)")
    settings = {
        "seed": seed, "split_seed": data.seed, "test_fraction": data.test_fraction,
        "prune": dict(zip(names, prune_list)), "bits": dict(zip(names, bits_list)),
        "n_pes": n_pes, "rel_bits": rel_bits, "ptr_bits": ptr_bits,
        "compression": asdict(cfg),
    }
    return CompressionResult(compressed, int8_model, net, acc_float, acc_int8, acc_pruned,
                             acc_shared, acc_compressed, settings, seconds)
