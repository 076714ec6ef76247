"""NumPy reference models of compressed inference.

Everything the hardware computes is defined here first, integer for integer. This package imports
NumPy (and scikit-learn for the data sets) but never a simulator or Amaranth.

- :mod:`tessera.golden.quant`: THE numeric contract: int8 quantization, (multiplier, shift),
  requantize.
- :mod:`tessera.golden.gemm`: int8 GEMM, im2col (NHWC) and convolution for the systolic array.
- :mod:`tessera.golden.eie`: EIE's interleaved CSC format, encode/decode, the SpMV golden and PE
  work.
- :mod:`tessera.golden.huffman`: canonical Huffman coding of indices.
- :mod:`tessera.golden.prune`, :mod:`tessera.golden.share`: magnitude pruning with masks, k-means
  weight sharing.
- :mod:`tessera.golden.data`, :mod:`tessera.golden.nn`: the digits, the MLP and the CNN trained in
  NumPy.
- :mod:`tessera.golden.inference`: integer models and :func:`~tessera.golden.inference.run_int8`,
  the end-to-end
  specification of what the hardware runs.
- :mod:`tessera.golden.pipeline`: Deep Compression end to end; :mod:`tessera.golden.accounting`,
  :mod:`tessera.golden.energy`, :mod:`tessera.golden.report`: storage tables, the 45 nm energy
  model, reports.
- :mod:`tessera.golden.modelfile`: the versioned compressed-model file.
"""

from .errors import TesseraError

__all__ = ["TesseraError"]
