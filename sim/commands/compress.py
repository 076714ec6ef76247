"""``tessera compress``: Deep Compression of a digits model, with its table and accuracies.

Trains (or reuses the cached) float model, prunes it iteratively with retraining, shares its
weights through per-layer k-means codebooks, quantizes everything to int8 and encodes it in EIE's
format; prints the Deep Compression style table, the all-in ratio, the energy estimate and the test
accuracies (float, int8 dense, compressed). ``-o FILE`` writes the model file, ``--json`` prints one
JSON object instead of the table.

``--onnx MODEL.onnx --data D.npz`` compresses an imported float ONNX model instead (see
``docs/onnx.md``): ``D.npz`` holds ``x`` in the model's input layout and ``y``; with ``x`` alone
the compression is one-shot and the accuracy is not measured.
"""

import json
import sys

HELP = ("compress a digits model or an ONNX model (prune, share, quantize, EIE-encode) and print "
        "its table")


def add_arguments(parser):
    """Add the options of ``tessera compress``."""
    parser.add_argument("--model", choices=("mlp", "cnn"),
                        help="the MLP 64-300-100-10 or the small CNN (default: mlp)")
    parser.add_argument("--onnx", metavar="MODEL.onnx",
                        help="compress this float ONNX model instead of a built-in one")
    parser.add_argument("--data", metavar="D.npz",
                        help="with --onnx: x (in the model's input layout) and y (labels); "
                             "without y the compression is one-shot and accuracy not measured")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of initialisation, batch order and k-means (default: 0)")
    parser.add_argument("--prune", metavar="P",
                        help="fraction of weights to prune in [0, 1): one value for every layer, "
                             "one per layer (0.9,0.93,0.6) or name=value pairs (fc3=0.5); "
                             "default: the model's tuned values")
    parser.add_argument("--bits", metavar="B",
                        help="codebook-index bits, 1..8, same forms as --prune (default: 4 for "
                             "FC layers, 8 for convolutions)")
    parser.add_argument("--pes", type=int, default=4, metavar="N",
                        help="number of PEs the rows are interleaved over (default: 4)")
    parser.add_argument("--rel-bits", type=int, default=4, metavar="R",
                        help="relative row index width, 1..8 (default: 4, as EIE)")
    parser.add_argument("--ptr-bits", type=int, default=16, metavar="W",
                        help="column pointer width (default: 16, as EIE)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the compressed model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-cache", action="store_true",
                        help="retrain the float model instead of using build/models/")


def run(args):
    """Compress, print the report, optionally save the model file."""
    from tessera.golden.errors import TesseraError
    from tessera.golden.pipeline import compress
    from tessera.golden.report import summarize
    from tessera.sim.files import output_path

    output = output_path(args.output)

    def log(message):
        print(f"tessera compress: {message}", file=sys.stderr, flush=True)

    if args.onnx is not None:
        return _run_onnx(args, log)
    if args.data is not None:
        raise TesseraError("--data goes with --onnx (the built-in models train on the digits)")
    args.model = args.model or "mlp"
    result = compress(
        args.model, args.seed, prune=args.prune, bits=args.bits, n_pes=args.pes,
        rel_bits=args.rel_bits, ptr_bits=args.ptr_bits, use_cache=not args.no_cache,
        log=None if args.json else log,
    )
    accuracies = _accuracies(result)
    summary = summarize(result.model, accuracies=accuracies, settings=result.settings,
                        seconds={k: round(v, 3) for k, v in result.seconds.items()})
    _save(output, result.model, summary, result.settings)
    title = (f"Deep Compression of the digits {args.model.upper()} (seed {args.seed}, "
             f"{args.pes} PEs)")
    return _print(args.json, result.model, summary, title, output)



def _run_onnx(args, log):
    """``tessera compress --onnx``: import, compress, report, save."""
    from tessera.golden.errors import TesseraError
    from tessera.golden.onnx.compress import compress_onnx
    from tessera.golden.report import summarize

    if args.model is not None:
        raise TesseraError("give either --model or --onnx, not both")
    from tessera.golden.onnx import load_model
    from tessera.golden.onnx.qdq import is_qdq

    if is_qdq(load_model(args.onnx)):
        return _run_qdq(args, log)
    result, data = compress_onnx(
        args.onnx, args.data, seed=args.seed, prune=args.prune, bits=args.bits, n_pes=args.pes,
        rel_bits=args.rel_bits, ptr_bits=args.ptr_bits, log=None if args.json else log,
    )
    accuracies = _accuracies(result)
    measured = result.settings["accuracy_measured"]
    summary = summarize(result.model, accuracies=accuracies if measured else {}, data=data,
                        settings=result.settings,
                        seconds={k: round(v, 3) for k, v in result.seconds.items()})
    if not measured:
        for name in accuracies:
            summary[f"accuracy_{name}"] = None
        summary["note"] = "accuracy not measured: the data file has no labels (y)"
    _save(args.output, result.model, summary, result.settings)
    title = f"Deep Compression of {args.onnx} (seed {args.seed}, {args.pes} PEs)"
    return _print(args.json, result.model, summary, title, args.output,
                  None if measured else "Accuracy not measured: the data file has no labels (y).")


def _run_qdq(args, log):
    """``tessera compress --onnx`` on a QDQ model: taken as quantized, written for the engines."""
    from tessera.golden.data import Digits
    from tessera.golden.errors import TesseraError
    from tessera.golden.onnx.compress import import_qdq_model
    from tessera.golden.report import summarize

    if args.prune is not None or args.bits is not None:
        raise TesseraError("a QDQ model is already quantized: it is taken as it is, without "
                           "--prune or --bits (give the float model to compress it)")
    model, accuracy, x = import_qdq_model(args.onnx, args.data, n_pes=args.pes,
                                          rel_bits=args.rel_bits, ptr_bits=args.ptr_bits)
    if not args.json:
        log(f"{args.onnx}: a QDQ model, taken as quantized: its int8 weights become lossless "
            f"8-bit codebooks (no pruning, no retraining)")
    settings = {"model": model.name, "source": "onnx-qdq", "onnx": str(args.onnx),
                "data": args.data, "accuracy_measured": accuracy is not None}
    data = None if x is None else Digits(x, None, x, None, 0, 0.0)
    summary = summarize(model, accuracies={"int8": accuracy, "compressed": accuracy},
                        data=data, settings=settings, energy=data is not None)
    if accuracy is None:
        summary["note"] = "accuracy not measured: no --data with labels (y)"
    _save(args.output, model, summary, settings)
    return _print(args.json, model, summary, f"{args.onnx} (QDQ, taken as quantized)",
                  args.output,
                  "Accuracy not measured: no --data with labels (y)." if accuracy is None else None)


def _accuracies(result):
    """The test accuracy after each stage of a compression result, by stage."""
    return {stage: getattr(result, f"accuracy_{stage}")
            for stage in ("float", "int8", "pruned", "shared", "compressed")}


def _save(output, model, summary, settings):
    """Write the model file (if ``output``) with the summary's accuracies and ratios in its
    info; note its path in the summary."""
    from tessera.golden.modelfile import save
    from tessera.sim.files import replacing

    if not output:
        return
    info = {k: v for k, v in summary.items() if k.startswith(("accuracy_", "ratio"))}
    info["settings"] = settings
    with replacing(output) as tmp:
        save(tmp, model, info=info)
    summary["output"] = str(output)


def _print(as_json, model, summary, title, output, note=None):
    """Print the summary as one JSON object, or as the table, the note and where it wrote."""
    from tessera.golden.report import render

    if as_json:
        print(json.dumps(summary, default=float))
    else:
        print(render(model, summary, title=title))
        if note:
            print(note)
        if output:
            print(f"wrote {output}")
    return 0
