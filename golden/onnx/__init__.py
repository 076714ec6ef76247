"""ONNX front ends of golden's networks: import float and QDQ models, export integer models.

- :func:`load_model`: read an ``.onnx`` file (with external-data side files) or accept a
  ``ModelProto``; every way the file can be wrong is a one-line
  :class:`~tessera.golden.errors.TesseraError` naming the file.
- :func:`import_float`: a float model (Conv, Gemm, MatMul + Add, Relu, BatchNormalization,
  Flatten/Reshape, MaxPool, AveragePool folded, Constant, Identity, Dropout, a final Softmax) to
  golden's float :class:`~tessera.golden.nn.Network`, ready to prune and retrain.
- :func:`import_qdq`: a symmetric int8 QDQ model (what onnxruntime's ``quantize_static`` writes
  with ``ActivationSymmetric=True`` and ``per_channel=True``) straight to a
  :class:`~tessera.golden.inference.QModel`.
- :func:`export_qmodel`: a QModel to standard ONNX (QuantizeLinear, QLinearConv, int8 Relu), and
  :func:`export_float`: a float Network to standard ONNX.

The ``onnx`` package is imported inside these functions, never at import time of golden.
The supported opsets are 13 to 21 (:data:`MIN_OPSET`, :data:`MAX_OPSET`); see ``docs/onnx.md``.
"""

from .common import MAX_OPSET, MIN_OPSET, ImportedInput, load_model
from .exporter import export_float, export_qmodel
from .importer import import_float
from .qdq import import_qdq

__all__ = [
    "MAX_OPSET",
    "MIN_OPSET",
    "ImportedInput",
    "export_float",
    "export_qmodel",
    "import_float",
    "import_qdq",
    "load_model",
]
