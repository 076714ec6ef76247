"""NumPy reference models of compressed inference.

Everything the hardware computes is defined here first, integer for integer. This package imports
NumPy (and scikit-learn for the data sets) but never a simulator or Amaranth.

- :mod:`golden.quant`: THE numeric contract: int8 quantization, (multiplier, shift), requantize.
- :mod:`golden.gemm`: int8 GEMM, im2col (NHWC) and convolution for the systolic array.
- :mod:`golden.eie`: EIE's interleaved CSC format, encode/decode, the SpMV golden and PE work.
- :mod:`golden.huffman`: canonical Huffman coding of indices.
- :mod:`golden.prune`, :mod:`golden.share`: magnitude pruning with masks, k-means weight sharing.
- :mod:`golden.data`, :mod:`golden.nn`: the digits, the MLP and the CNN trained in NumPy.
- :mod:`golden.inference`: integer models and :func:`~golden.inference.run_int8`, the end-to-end
  specification of what the hardware runs.
- :mod:`golden.pipeline`: Deep Compression end to end; :mod:`golden.accounting`,
  :mod:`golden.energy`, :mod:`golden.report`: storage tables, the 45 nm energy model, reports.
- :mod:`golden.modelfile`: the versioned compressed-model file.
"""

from .errors import TesseraError

__all__ = ["TesseraError"]
