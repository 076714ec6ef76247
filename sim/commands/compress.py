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
    from tessera.golden.modelfile import save
    from tessera.golden.pipeline import compress
    from tessera.golden.report import render, summarize
    from tessera.sim.files import output_path, replacing

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
    accuracies = {
        "float": result.accuracy_float,
        "int8": result.accuracy_int8,
        "pruned": result.accuracy_pruned,
        "shared": result.accuracy_shared,
        "compressed": result.accuracy_compressed,
    }
    summary = summarize(result.model, accuracies=accuracies, settings=result.settings,
                        seconds={k: round(v, 3) for k, v in result.seconds.items()})
    if output is not None:
        info = {k: v for k, v in summary.items() if k.startswith(("accuracy_", "ratio"))}
        info["settings"] = result.settings
        with replacing(output) as tmp:
            save(tmp, result.model, info=info)
        summary["output"] = str(output)
    if args.json:
        print(json.dumps(summary, default=float))
    else:
        title = (f"Deep Compression of the digits {args.model.upper()} (seed {args.seed}, "
                 f"{args.pes} PEs)")
        print(render(result.model, summary, title=title))
        if output is not None:
            print(f"wrote {output}")
    return 0



def _run_onnx(args, log):
    """``tessera compress --onnx``: import, compress, report, save."""
    from tessera.golden.errors import TesseraError
    from tessera.golden.modelfile import save
    from tessera.golden.onnx.compress import compress_onnx
    from tessera.golden.report import render, summarize

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
    accuracies = {
        "float": result.accuracy_float,
        "int8": result.accuracy_int8,
        "pruned": result.accuracy_pruned,
        "shared": result.accuracy_shared,
        "compressed": result.accuracy_compressed,
    }
    measured = result.settings["accuracy_measured"]
    summary = summarize(result.model, accuracies=accuracies if measured else {}, data=data,
                        settings=result.settings,
                        seconds={k: round(v, 3) for k, v in result.seconds.items()})
    if not measured:
        for name in accuracies:
            summary[f"accuracy_{name}"] = None
        summary["note"] = "accuracy not measured: the data file has no labels (y)"
    if args.output:
        from tessera.sim.files import replacing

        info = {k: v for k, v in summary.items() if k.startswith(("accuracy_", "ratio"))}
        info["settings"] = result.settings
        with replacing(args.output) as tmp:
            save(tmp, result.model, info=info)
        summary["output"] = args.output
    if args.json:
        print(json.dumps(summary, default=float))
    else:
        title = f"Deep Compression of {args.onnx} (seed {args.seed}, {args.pes} PEs)"
        print(render(result.model, summary, title=title))
        if not measured:
            print("Accuracy not measured: the data file has no labels (y).")
        if args.output:
            print(f"wrote {args.output}")
    return 0


def _run_qdq(args, log):
    """``tessera compress --onnx`` on a QDQ model: taken as quantized, written for the engines."""
    from tessera.golden.data import Digits
    from tessera.golden.errors import TesseraError
    from tessera.golden.modelfile import save
    from tessera.golden.onnx.compress import import_qdq_model
    from tessera.golden.report import render, summarize

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
    if args.output:
        info = {k: v for k, v in summary.items() if k.startswith(("accuracy_", "ratio"))}
        info["settings"] = settings
        save(args.output, model, info=info)
        summary["output"] = args.output
    if args.json:
        print(json.dumps(summary, default=float))
    else:
        print(render(model, summary, title=f"{args.onnx} (QDQ, taken as quantized)"))
        if accuracy is None:
            print("Accuracy not measured: no --data with labels (y).")
        if args.output:
            print(f"wrote {args.output}")
    return 0
