"""Energy per inference from operation and memory-access counts, with 45 nm figures.

The figures are Horowitz's (ISSCC 2014) as Dally's and Han's slides quote them, in pJ:
8-bit add 0.03, 32-bit add 0.1, 8-bit multiply 0.2, 32-bit multiply 3.1, 32-bit float add 0.9,
32-bit float multiply 3.7, 32-bit SRAM read (8 KB) 5, 32-bit DRAM read 640.

Two estimates, per inference (batch 1), with a breakdown:

- **dense fp32 from DRAM**: every weight and bias is read from DRAM once (640 pJ per 32-bit
  word); every multiply-accumulate is a float multiply and a float add; activations are read and
  written once in SRAM (5 pJ per 32-bit word).
- **compressed int8 from SRAM** (the sparse engine for FC layers, the systolic array for
  convolutions): an FC layer reads, for every *non-zero* input activation, two column pointers per
  PE and that column's entries (``index_bits + rel_bits`` each, padding included, packed into 32-bit
  SRAM words); every entry processed costs an 8-bit multiply and a 32-bit add. A convolution reads
  its dense int8 weights once (4 per word) and does every MAC (8-bit multiply, 32-bit add).
  Every output is requantized (one 32-bit multiply and two 32-bit adds) after reading its int32
  bias; activations are int8, 4 per SRAM word. Codebook lookups are register reads and are not
  counted.
- **max pooling** has no weights: ``k*k - 1`` comparisons per output, counted as float adds in
  the dense estimate and 8-bit adds in the int8 one, plus its activation traffic.

Memory access dominates both, which is the point Dally and Han make: the compressed model's gain
comes mostly from keeping the weights on chip.
"""

import numpy as np

__all__ = ["INT8_PARTS", "PJ", "compressed_int8_energy", "compressed_int8_layer_energy",
           "dense_fp32_energy"]

#: Energy per operation at 45 nm, in picojoules (Horowitz, ISSCC 2014).
PJ = {
    "add8": 0.03,
    "add32": 0.1,
    "mult8": 0.2,
    "mult32": 3.1,
    "fadd32": 0.9,
    "fmult32": 3.7,
    "sram32": 5.0,
    "dram32": 640.0,
}


#: The parts of the compressed int8 estimate's breakdown.
INT8_PARTS = ("weights + pointers (SRAM)", "arithmetic", "activations (SRAM)",
              "biases + requantization")


def _sizes(layer):
    return int(np.prod(layer.in_shape)), int(np.prod(layer.out_shape))


def dense_fp32_energy(model):
    """Return ``(total_pJ, breakdown)`` for the dense fp32 model with weights in DRAM.

    ``model`` is any :class:`~tessera.golden.inference.QModel` (only its layer shapes are used).
    Each layer's kind counts its own work (:meth:`tessera.golden.layers.LayerKind.dense_energy`);
    activations are counted here for every kind alike.
    """
    parts = {"weights (DRAM)": 0.0, "arithmetic": 0.0, "activations (SRAM)": 0.0}
    for layer in model.layers:
        n_in, n_out = _sizes(layer)
        for part, picojoules in layer.kind.dense_energy(layer, PJ):
            parts[part] += picojoules
        parts["activations (SRAM)"] += (n_in + n_out) * PJ["sram32"]
    return sum(parts.values()), parts


def compressed_int8_energy(model, x_q):
    """Return ``(total_pJ, breakdown)`` per inference for a compressed model, from SRAM.

    The work of the sparse layers depends on the activations: ``x_q`` is a batch of int8 inputs
    (e.g. the test set) and the figures are averaged over it. Each layer's kind counts its own
    work (:meth:`tessera.golden.layers.LayerKind.int8_energy`); the sum over
    :func:`compressed_int8_layer_energy`.
    """
    parts = dict.fromkeys(INT8_PARTS, 0.0)
    for layer_parts in compressed_int8_layer_energy(model, x_q):
        for part, picojoules in layer_parts.items():
            parts[part] += picojoules
    return sum(parts.values()), parts


def compressed_int8_layer_energy(model, x_q):
    """Return, per layer of ``model``, the breakdown (a dict of :data:`INT8_PARTS`, pJ) of
    :func:`compressed_int8_energy`: what that layer costs per inference, averaged over
    ``x_q``."""
    from .inference import run_int8

    _, trace = run_int8(model, x_q, trace=True)
    layers = []
    for layer, inputs in zip(model.layers, trace.inputs):
        n_in, n_out = _sizes(layer)
        parts = dict.fromkeys(INT8_PARTS, 0.0)
        for part, picojoules in layer.kind.int8_energy(layer, model, inputs, PJ):
            parts[part] += picojoules
        parts["activations (SRAM)"] += (n_in + n_out) / 4 * PJ["sram32"]
        layers.append(parts)
    return layers
