"""Reports of a compressed model: the JSON figures and the printable table.

Shared by ``tessera compress``, ``tessera inspect`` and ``make sim``:
:func:`compress_default_mlp` compresses the default MLP (reusing the cached float model) and
returns the printable Deep Compression table and the accuracies.
"""

from .accounting import format_table, storage
from .data import load_digits_split
from .energy import compressed_int8_energy, dense_fp32_energy

__all__ = ["compress_default_mlp", "render", "summarize"]


def summarize(model, *, accuracies, data=None, settings=None, seconds=None, energy=True):
    """Return a JSON-ready dict: ratios, accuracies, per-layer storage, energy, settings.

    Keys include ``ratio`` (Deep Compression's count, with Huffman), ``ratio_no_huffman``,
    ``ratio_all_in``, ``ratio_all_in_hw``, ``accuracy_<name>`` for each accuracy given and
    ``layers`` (one dict per layer). The energy is measured on ``data.x_test`` (default: the
    digits); ``energy=False`` leaves it out (``"energy": None``), for a model without its data.
    """
    store = storage(model)
    summary = store.as_dict()
    for name, value in accuracies.items():
        summary[f"accuracy_{name.replace(' ', '_').replace('-', '_')}"] = value
    summary["energy"] = None
    if energy:
        _energy(model, data or load_digits_split(), summary)
    summary["model"] = model.name
    summary["n_pes"], summary["rel_bits"], summary["ptr_bits"] = (
        model.n_pes, model.rel_bits, model.ptr_bits)
    if settings is not None:
        summary["settings"] = settings
    if seconds is not None:
        summary["seconds"] = seconds
    return summary


def _energy(model, data, summary):
    dense_pj, dense_parts = dense_fp32_energy(model)
    comp_pj, comp_parts = compressed_int8_energy(model, model.quantize_input(data.x_test))
    summary["energy"] = {
        "dense_fp32_dram_pj": dense_pj, "dense_fp32_breakdown_pj": dense_parts,
        "compressed_int8_sram_pj": comp_pj, "compressed_int8_breakdown_pj": comp_parts,
        "ratio": dense_pj / comp_pj,
    }


def render(model, summary, *, title=None):
    """Return the printable report: the Deep Compression table, energy and accuracies."""
    accuracies = {
        key[len("accuracy_"):].replace("_", " "): value
        for key, value in summary.items() if key.startswith("accuracy_") and value is not None
    }
    text = format_table(storage(model), accuracies=accuracies, title=title)
    energy = summary["energy"]
    if energy is None:
        return text

    def parts(breakdown):
        return ", ".join(f"{k} {v / 1e3:.1f} nJ" for k, v in breakdown.items())

    text += (
        f"\nEnergy per inference (45 nm): dense fp32 from DRAM "
        f"{energy['dense_fp32_dram_pj'] / 1e6:.2f} uJ ({parts(energy['dense_fp32_breakdown_pj'])})"
        f"\n  compressed int8 from SRAM {energy['compressed_int8_sram_pj'] / 1e3:.1f} nJ "
        f"({parts(energy['compressed_int8_breakdown_pj'])}): {energy['ratio']:.0f}x less"
    )
    return text


def compress_default_mlp(seed=0, *, cache_dir=None, log=None):
    """Compress the default MLP (cached float model); return ``(table, accuracies, model)``.

    ``table`` is the printable report (:func:`render`); ``accuracies`` maps ``"float"``,
    ``"int8"`` and ``"compressed"`` to test-split accuracies in [0, 1]; ``model`` is the
    compressed :class:`tessera.golden.inference.QModel`. This is what ``make sim`` prints and then
    runs
    on the sparse array.
    """
    from .pipeline import compress

    result = compress("mlp", seed, cache_dir=cache_dir, log=log)
    accuracies = {
        "float": result.accuracy_float,
        "int8": result.accuracy_int8,
        "compressed": result.accuracy_compressed,
    }
    summary = summarize(result.model, accuracies=accuracies)
    title = f"Deep Compression of the digits MLP 64-300-100-10 (seed {seed})"
    return render(result.model, summary, title=title), accuracies, result.model
