"""Deep Compression of an imported ONNX model: what ``tessera compress --onnx`` runs.

With a data file holding ``x`` (in the model's input layout) and ``y`` (integer labels), the data
are split (stratified, seeded, 30 % held out) and the float network is pruned with retraining,
weight-shared with centroid fine-tuning and quantized, as the built-in networks are; the
accuracies are measured on the held-out part. With ``x`` alone, compression is one-shot (no
retraining, no fine-tuning) and no accuracy is measured; ``x`` calibrates the int8 scales, which
is why at least ``x`` is required.
"""

from pathlib import Path

import numpy as np

from ..data import Digits
from ..errors import TesseraError, check_int
from .importer import import_float

__all__ = ["TEST_FRACTION", "compress_onnx", "import_qdq_model", "load_data"]

TEST_FRACTION = 0.3

NEED_X = ("calibrating the int8 scales needs at least x (inputs in the model's layout): give "
          "--data D.npz with x, and y (labels) to retrain and measure accuracy")


def load_data(path, model_input, classes):
    """Read ``x`` and optional ``y`` from an ``.npz`` file.

    Returns
    -------
    (x, y) : (numpy.ndarray, numpy.ndarray or None)
        ``x`` flat in tessera's layout (float64), ``y`` int64 labels in ``[0, classes)``.

    Raises
    ------
    TesseraError
        If the file is missing or not an ``.npz``, lacks ``x``, or ``x``/``y`` do not match the
        model (shape, count, label range).
    """
    path = Path(path)
    if not path.exists():
        raise TesseraError(f"no such data file: {path}")
    # The one loader: every member's header checked against its size (and pickles refused)
    # before anything is allocated.
    from ..npyfile import read_npz

    arrays = read_npz(path, "--data")
    if "x" not in arrays:
        raise TesseraError(f"{path} has no array 'x'; {NEED_X}")
    x = model_input.to_tessera(arrays["x"], what=f"{path}: x")
    if len(x) == 0:
        raise TesseraError(f"{path}: x is empty")
    y = arrays.get("y")
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise TesseraError(f"{path}: y must be {len(x)} integer labels, not {y.dtype} "
                               f"{y.shape}")
        if y.min() < 0 or y.max() >= classes:
            raise TesseraError(f"{path}: labels must be in [0, {classes}) (the model has "
                               f"{classes} outputs), not [{y.min()}, {y.max()}]")
        y = y.astype(np.int64)
    return x, y


def _split(x, y, seed):
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=TEST_FRACTION, stratify=stratify, random_state=seed)
    except ValueError as error:
        raise TesseraError(f"cannot split {len(x)} examples for training and testing: "
                           f"{error}") from None
    return Digits(x_train, y_train, x_test, y_test, seed, TEST_FRACTION)


def compress_onnx(path, data_path=None, *, seed=0, prune=None, bits=None, n_pes=4, rel_bits=4,
                  ptr_bits=16, compression=None, log=None):
    """Import an ONNX model and compress it.

    Parameters
    ----------
    path : path
        The float ONNX model.
    data_path : path or None
        An ``.npz`` with ``x`` and optional ``y`` (see the module docstring). Required.
    seed : int
        Seeds the split, the retraining and k-means.
    prune, bits, n_pes, rel_bits, ptr_bits, compression :
        As for :func:`tessera.golden.pipeline.compress_network`; the defaults come from
        :func:`tessera.golden.pipeline.default_onnx_settings`.
    log : callable or None

    Returns
    -------
    (result, data) : (CompressionResult, Digits)
        ``data`` is the split used (``x_test``/``y_test`` are None-free only with labels).

    Raises
    ------
    TesseraError
        For any bad model or data file, one line naming it.
    """
    from ..pipeline import compress_network, default_onnx_settings

    net, model_input = import_float(path)
    log = log or (lambda message: None)
    if data_path is None:
        raise TesseraError(f"--onnx without --data: {NEED_X}")
    classes = net.layers[-1].weight.shape[0]
    x, y = load_data(data_path, model_input, classes)
    retrain = y is not None
    if retrain:
        data = _split(x, y, seed)
        log(f"{Path(path).name}: {len(net.layers)} layers, {len(data.x_train)} training and "
            f"{len(data.x_test)} held-out examples from {Path(data_path).name}")
    else:
        data = Digits(x, None, x, None, seed, 0.0)
        log(f"{Path(path).name}: no labels in {Path(data_path).name}: one-shot compression, "
            f"accuracy not measured")
    if retrain:
        log(f"float {net.name}: held-out accuracy {net.accuracy(data.x_test, data.y_test):.4f}")
    default_prune, default_bits = default_onnx_settings(net)
    result = compress_network(
        net, data, seed, prune=prune, bits=bits, default_prune=default_prune,
        default_bits=default_bits, n_pes=n_pes, rel_bits=rel_bits, ptr_bits=ptr_bits,
        compression=compression, log=log, retrain=retrain,
    )
    result.settings.update({
        "model": net.name, "source": "onnx", "onnx": str(path), "data": str(data_path),
        "input": {"name": model_input.name, "shape": list(model_input.shape)},
        "accuracy_measured": retrain,
    })
    return result, data


def import_qdq_model(path, data_path=None, *, n_pes=4, rel_bits=4, ptr_bits=16):
    """Import a symmetric int8 QDQ model for the engines, as it is (no pruning, no retraining).

    Its int8 weights become 8-bit codebooks (:func:`tessera.golden.onnx.qdq.lossless_codebooks`)
    so that it is a compressed model; every layer is EIE-encoded with the widths given (which
    raises when one does not fit). With ``data_path`` the accuracy is measured on all of ``x``
    and ``y``.

    Returns
    -------
    (model, accuracy, x) : (QModel, float or None, numpy.ndarray or None)
    """
    from .qdq import import_qdq, lossless_codebooks

    model, model_input = import_qdq(path)
    lossless_codebooks(model)
    model.n_pes, model.rel_bits, model.ptr_bits = n_pes, rel_bits, ptr_bits
    for name, value, low, high in (("n_pes", n_pes, 1, 4096), ("rel_bits", rel_bits, 1, 8),
                                   ("ptr_bits", ptr_bits, 1, 32)):
        check_int(value, name, low, high)
    for layer in model.layers:
        if layer.kind.weighted:
            model.eie(layer)
    accuracy, x = None, None
    if data_path is not None:
        classes = [q for q in model.layers if q.kind.weighted][-1].weight.shape[0]
        x, y = load_data(data_path, model_input, classes)
        if y is not None:
            accuracy = model.accuracy(x, y)
    return model, accuracy, x
