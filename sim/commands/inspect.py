"""``tessera inspect FILE``: print the Deep Compression table of a compressed model file.

Loads the file (checking its format version and every field), recomputes the storage table and
the energy estimate from its contents, and re-measures the compressed model's test accuracy by
integer inference; the accuracies recorded at compression time are shown beside it.
"""

import json

HELP = "print the table of a compressed model file written by `tessera compress -o`"


def add_arguments(parser):
    """Add the options of ``tessera inspect``."""
    parser.add_argument("file", metavar="FILE", help="a model file from `tessera compress -o`")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args):
    """Load, check, measure and print."""
    from tessera.golden.data import load_digits_split
    from tessera.golden.modelfile import load
    from tessera.golden.report import render, summarize

    model, info = load(args.file)
    settings = info.get("settings", {})
    onnx = str(settings.get("source", "")).startswith("onnx")
    # An imported ONNX model's data are not kept: its accuracies are those measured by
    # `compress --onnx`, and no energy is estimated (it depends on the activations).
    names = ("float", "int8", "compressed") if onnx else ("float", "int8")
    accuracies = {
        name: info[f"accuracy_{name}"] for name in names
        if isinstance(info.get(f"accuracy_{name}"), (int, float))
    }
    data = None
    if not onnx:
        data = load_digits_split(settings.get("split_seed", 0),
                                 settings.get("test_fraction", 0.3))
        accuracies["compressed"] = model.accuracy(data.x_test, data.y_test)
    summary = summarize(model, accuracies=accuracies, data=data, settings=settings or None,
                        energy=not onnx)
    summary["file"] = args.file
    if args.json:
        print(json.dumps(summary, default=float))
    else:
        title = (f"{args.file}: {model.name} ({len(model.layers)} layers, {model.n_pes} PEs, "
                 f"{model.rel_bits}-bit relative indices)")
        print(render(model, summary, title=title))
    return 0
