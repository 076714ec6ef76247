"""``tessera compress``: Deep Compression of a digits model, with its table and accuracies.

Trains (or reuses the cached) float model, prunes it iteratively with retraining, shares its
weights through per-layer k-means codebooks, quantizes everything to int8 and encodes it in EIE's
format; prints the Deep Compression style table, the all-in ratio, the energy estimate and the test
accuracies (float, int8 dense, compressed). ``-o FILE`` writes the model file, ``--json`` prints one
JSON object instead of the table.
"""

import json
import sys

HELP = "compress a digits model (prune, share, quantize, EIE-encode) and print its table"


def add_arguments(parser):
    """Add the options of ``tessera compress``."""
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                        help="the MLP 64-300-100-10 or the small CNN (default: mlp)")
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
    from tessera.golden.modelfile import save
    from tessera.golden.pipeline import compress
    from tessera.golden.report import render, summarize
    from tessera.sim.files import output_path, replacing

    output = output_path(args.output)

    def log(message):
        print(f"tessera compress: {message}", file=sys.stderr, flush=True)

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

