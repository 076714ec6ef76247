"""Storage accounting as Deep Compression reports it, and the all-in count.

For each compressed layer, encoded in EIE's format (:mod:`tessera.golden.eie`), with ``E`` entries
(the
non-zero weights plus the padding entries):

- **P+Q** (pruning + quantization, Deep Compression's Table 2 without Huffman):
  ``E * index_bits + E * rel_bits + 2**index_bits * 8`` (indices, relative indices with their
  padding entries, and the int8 codebook);
- **P+Q+H**: the same with the index stream and the relative-index stream each Huffman-coded
  (one canonical code per stream per layer, :mod:`tessera.golden.huffman`); the code tables are not
  counted, as in the paper.

Both are compared with the dense fp32 weights (``32 * rows * cols`` bits, biases excluded as in the
paper's "Weights" column): ``ratio`` is P+Q+H, ``ratio_no_huffman`` P+Q.

The **all-in** count adds everything else the hardware needs to run the layer and compares with
dense fp32 weights *and* biases:

- column pointers: ``n_pes * (cols + 1)`` per layer, each as wide as the layer needs to address
  its largest PE (``ceil(log2(max entries + 1))`` bits);
- biases: int32, one per output;
- scales: a 16-bit multiplier and a 6-bit shift per output channel (once per layer when all
  channels share them), plus the 32-bit input scale of the model.

``ratio_all_in`` counts the entries Huffman-coded (the size of the model as stored);
``ratio_all_in_hw`` counts the memory image the sparse engine holds: raw ``index_bits + rel_bits``
entries and ``ptr_bits``-wide pointers (16 in EIE).
"""

from dataclasses import dataclass

import numpy as np

from . import huffman
from .errors import TesseraError

__all__ = ["LayerStorage", "Storage", "format_table", "storage"]

CODEBOOK_VALUE_BITS = 8
BIAS_BITS = 32
MULTIPLIER_BITS = 16
SHIFT_BITS = 6
SCALE_BITS = 32
FP32 = 32


def _stream_bits(symbols, alphabet):
    if symbols.size == 0:
        return 0
    code = huffman.build(symbols, alphabet_size=alphabet)
    return huffman.encoded_bits(code, symbols)


@dataclass(frozen=True)
class LayerStorage:
    """The storage of one compressed layer, in bits (see the module docstring)."""

    name: str
    shape: tuple
    weights: int
    nnz: int
    padding: int
    index_bits: int
    rel_bits: int
    n_pes: int
    index_stream: int
    rel_stream: int
    index_stream_huffman: int
    rel_stream_huffman: int
    codebook: int
    pointers: int
    pointer_width: int
    pointers_hw: int
    biases: int
    scales: int
    dense_weights: int
    dense_biases: int

    @property
    def entries(self):
        """Entries stored, padding included."""
        return self.nnz + self.padding

    @property
    def kept(self):
        """Fraction of weights kept."""
        return self.nnz / self.weights if self.weights else 0.0

    @property
    def pq(self):
        """P+Q bits: indices, relative indices (with padding) and the codebook."""
        return self.index_stream + self.rel_stream + self.codebook

    @property
    def pqh(self):
        """P+Q+H bits: the two streams Huffman-coded, plus the codebook."""
        return self.index_stream_huffman + self.rel_stream_huffman + self.codebook

    @property
    def all_in(self):
        """Huffman-coded entries + codebook + pointers + biases + scales."""
        return self.pqh + self.pointers + self.biases + self.scales

    @property
    def all_in_hw(self):
        """Raw entries + codebook + ``ptr_bits`` pointers + biases + scales (the memory image)."""
        return self.pq + self.pointers_hw + self.biases + self.scales

    def as_dict(self):
        """Return the figures as a JSON-ready dict."""
        return {
            "name": self.name, "shape": list(self.shape), "weights": self.weights,
            "nnz": self.nnz, "padding": self.padding, "entries": self.entries,
            "kept": self.kept, "index_bits": self.index_bits, "rel_bits": self.rel_bits,
            "index_bits_huffman": self.index_stream_huffman / max(self.entries, 1),
            "rel_bits_huffman": self.rel_stream_huffman / max(self.entries, 1),
            "bits_pq": self.pq, "bits_pqh": self.pqh, "bits_all_in": self.all_in,
            "bits_all_in_hw": self.all_in_hw, "codebook_bits": self.codebook,
            "pointer_bits": self.pointers, "pointer_width": self.pointer_width,
            "bias_bits": self.biases, "scale_bits": self.scales,
            "rate_pq": self.pq / self.dense_weights, "rate_pqh": self.pqh / self.dense_weights,
        }


@dataclass(frozen=True)
class Storage:
    """Per-layer storage and the model's totals and ratios."""

    layers: tuple
    input_scale_bits: int = SCALE_BITS

    def _sum(self, attr):
        return sum(getattr(layer, attr) for layer in self.layers)

    @property
    def weights(self):
        """Dense weight count."""
        return self._sum("weights")

    @property
    def ratio(self):
        """Dense fp32 weights / P+Q+H (Deep Compression's count, with Huffman)."""
        return self._sum("dense_weights") / self._sum("pqh")

    @property
    def ratio_no_huffman(self):
        """Dense fp32 weights / P+Q."""
        return self._sum("dense_weights") / self._sum("pq")

    @property
    def all_in_bits(self):
        """All-in bits with Huffman-coded entries (model as stored)."""
        return self._sum("all_in") + self.input_scale_bits

    @property
    def all_in_hw_bits(self):
        """All-in bits of the hardware memory image (raw entries, ``ptr_bits`` pointers)."""
        return self._sum("all_in_hw") + self.input_scale_bits

    @property
    def dense_bits(self):
        """Dense fp32 weights and biases."""
        return self._sum("dense_weights") + self._sum("dense_biases")

    @property
    def ratio_all_in(self):
        """Dense fp32 weights + biases / all-in bits (Huffman-coded entries)."""
        return self.dense_bits / self.all_in_bits

    @property
    def ratio_all_in_hw(self):
        """Dense fp32 weights + biases / the hardware memory image."""
        return self.dense_bits / self.all_in_hw_bits

    def breakdown(self):
        """Return the all-in bits by component, largest first: ``[(name, bits), ...]``."""
        parts = {
            "codebook indices (Huffman)": self._sum("index_stream_huffman"),
            "relative indices (Huffman)": self._sum("rel_stream_huffman"),
            "column pointers": self._sum("pointers"),
            "biases (int32)": self._sum("biases"),
            "codebooks": self._sum("codebook"),
            "scales": self._sum("scales") + self.input_scale_bits,
        }
        return sorted(parts.items(), key=lambda item: -item[1])

    def as_dict(self):
        """Return the totals and per-layer figures as a JSON-ready dict."""
        return {
            "ratio": self.ratio, "ratio_no_huffman": self.ratio_no_huffman,
            "ratio_all_in": self.ratio_all_in, "ratio_all_in_hw": self.ratio_all_in_hw,
            "weights": self.weights, "nnz": self._sum("nnz"), "padding": self._sum("padding"),
            "bits_pq": self._sum("pq"), "bits_pqh": self._sum("pqh"),
            "bits_all_in": self.all_in_bits, "bits_all_in_hw": self.all_in_hw_bits,
            "bits_dense_fp32": self.dense_bits,
            "all_in_breakdown": dict(self.breakdown()),
            "layers": [layer.as_dict() for layer in self.layers],
        }


def _layer_storage(model, layer):
    matrix = model.eie(layer)
    out = layer.weight.shape[0]
    per_pe = matrix.col_ptr[:, -1]
    width = max(1, int(np.ceil(np.log2(int(per_pe.max(initial=0)) + 1))))
    pointers = matrix.n_pes * (matrix.cols + 1)
    same = np.all(layer.multiplier == layer.multiplier[0]) and np.all(layer.shift == layer.shift[0])
    return LayerStorage(
        name=layer.name, shape=matrix.shape, weights=int(layer.weight.size), nnz=matrix.nnz,
        padding=matrix.n_padding, index_bits=matrix.index_bits, rel_bits=matrix.rel_bits,
        n_pes=matrix.n_pes,
        index_stream=matrix.n_entries * matrix.index_bits,
        rel_stream=matrix.n_entries * matrix.rel_bits,
        index_stream_huffman=_stream_bits(matrix.v, 2**matrix.index_bits),
        rel_stream_huffman=_stream_bits(matrix.z, 2**matrix.rel_bits),
        codebook=2**matrix.index_bits * CODEBOOK_VALUE_BITS,
        pointers=pointers * width, pointer_width=width, pointers_hw=pointers * model.ptr_bits,
        biases=out * BIAS_BITS,
        scales=(1 if same else out) * (MULTIPLIER_BITS + SHIFT_BITS),
        dense_weights=int(layer.weight.size) * FP32, dense_biases=out * FP32,
    )


def storage(model):
    """Return the :class:`Storage` of a compressed :class:`~tessera.golden.inference.QModel`.

    Raises
    ------
    TesseraError
        If a layer is not compressed (has no codebook) or cannot be encoded.
    """
    if not model.compressed:
        raise TesseraError("storage accounting needs a compressed model (every layer shared)")
    return Storage(tuple(_layer_storage(model, layer) for layer in model.layers
                         if layer.kind.weighted))  # a maxpool layer stores nothing


def _kb(bits):
    return f"{bits / 8 / 1024:.1f} KB"


def format_table(store, *, accuracies=None, title=None):
    """Return a Deep Compression style table (Table 2 of the paper) as a printable string.

    Columns: layer, weights, % kept, entries (padding), index bits and relative-index bits
    (fixed / Huffman average per entry), compressed size as a percentage of dense fp32 (P+Q and
    P+Q+H). Then the ratios, the all-in breakdown and, if given, the accuracies
    (a mapping such as ``{"float": 0.98, "int8 dense": 0.98, "compressed": 0.979}``).
    """
    head = (f"{'Layer':<7}{'Shape':>11}{'Weights':>9}{'Kept':>7}{'Entries':>9}{'Pad':>6}"
            f"{'Idx bits':>11}{'Rel bits':>11}{'P+Q':>8}{'P+Q+H':>8}")
    lines = []
    if title:
        lines.append(title)
    lines += [head, "-" * len(head)]
    for s in store.layers:
        e = max(s.entries, 1)
        shape = f"{s.shape[0]}x{s.shape[1]}"
        lines.append(
            f"{s.name:<7}{shape:>11}{s.weights:>9,}{100 * s.kept:>6.1f}%{s.entries:>9,}"
            f"{s.padding:>6,}{s.index_bits:>5} /{s.index_stream_huffman / e:>4.1f}"
            f"{s.rel_bits:>5} /{s.rel_stream_huffman / e:>4.1f}"
            f"{100 * s.pq / s.dense_weights:>7.2f}%{100 * s.pqh / s.dense_weights:>7.2f}%"
        )
    layers = store.layers
    entries = max(sum(s.entries for s in layers), 1)
    nnz = sum(s.nnz for s in layers)
    dense = sum(s.dense_weights for s in layers)
    lines.append("-" * len(head))
    lines.append(
        f"{'Total':<7}{'':>11}{store.weights:>9,}{100 * nnz / store.weights:>6.1f}%{entries:>9,}"
        f"{sum(s.padding for s in layers):>6,}"
        f"{'':>6}{sum(s.index_stream_huffman for s in layers) / entries:>5.1f}"
        f"{'':>6}{sum(s.rel_stream_huffman for s in layers) / entries:>5.1f}"
        f"{100 * sum(s.pq for s in layers) / dense:>7.2f}%"
        f"{100 * sum(s.pqh for s in layers) / dense:>7.2f}%"
    )
    lines.append("")
    lines.append(
        f"Compression as Deep Compression counts (vs dense fp32 weights, {_kb(dense)}): "
        f"{store.ratio:.1f}x with Huffman ({_kb(sum(s.pqh for s in layers))}), "
        f"{store.ratio_no_huffman:.1f}x without"
    )
    first = layers[0]
    ptr_bits = first.pointers_hw // max(first.n_pes * (first.shape[1] + 1), 1)
    lines.append(
        f"All-in (+ column pointers, int32 biases, scales; vs fp32 weights and biases): "
        f"{store.ratio_all_in:.1f}x ({_kb(store.all_in_bits)} stored), "
        f"{store.ratio_all_in_hw:.1f}x as the sparse engine's memory image "
        f"(raw entries, {ptr_bits}-bit pointers)"
    )
    total = store.all_in_bits
    lines.append("All-in breakdown: " + ", ".join(
        f"{name} {100 * bits / total:.0f}%" for name, bits in store.breakdown()
    ))
    if accuracies:
        lines.append("Test accuracy: " + ", ".join(
            f"{name} {100 * value:.2f}%" for name, value in accuracies.items()
        ))
    return "\n".join(lines)
