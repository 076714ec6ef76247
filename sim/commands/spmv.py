"""``tessera spmv W.npy x.npy -o y.npy``: y = W @ x on the simulated sparse PE array.

W is encoded in EIE's format (its distinct non-zero values must fit a ``2**bits - 1`` entry
codebook, code 0 being the padding; ``--quantize`` builds one with k-means instead), loaded into
a simulated :class:`tessera.hw.sparse.SparseArray` over its command stream, and multiplied by the
int8
vector x. The outputs and every counter are checked against the golden models (tessera.golden.eie,
tessera.golden.quant, tessera.golden.sparse_cycles); a mismatch exits 1.

The work is :func:`tessera.sim.sparse.spmv_on_array`; this module parses, calls it and prints.
"""

import json
import time

import numpy as np

HELP = "compute y = W @ x on the simulated sparse PE array (EIE), checked against golden"


def add_arguments(parser):
    from tessera.golden.config import SparseConfig as C  # the engine's one set of defaults

    parser.add_argument("weights", metavar="W.npy", help="integer weight matrix (rows, cols)")
    parser.add_argument("x", metavar="x.npy", help="int8 activation vector (cols,)")
    parser.add_argument("-o", "--output", metavar="y.npy", help="write y here")
    parser.add_argument("--pes", type=int, default=C.n_pes, metavar="N",
                        help=f"number of PEs, 1..64 (default {C.n_pes})")
    parser.add_argument("--fifo-depth", type=int, default=C.fifo_depth, metavar="D",
                        help=f"activation queue depth, 2..64 (default {C.fifo_depth})")
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                        help="simulator (default: verilator)")
    parser.add_argument("--raw", action="store_true",
                        help="output the int32 accumulators instead of requantized int8")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quantize", action="store_true",
                        help="build a k-means codebook when W has too many distinct values")
    parser.add_argument("--bits", type=int, default=C.index_bits, metavar="B",
                        help=f"codebook index width, 1..8 (default {C.index_bits}: "
                             f"{2**C.index_bits - 1} non-zero values)")
    parser.add_argument("--rel-bits", type=int, default=C.rel_bits, metavar="R",
                        help=f"relative row index width, 1..8 (default {C.rel_bits})")
    parser.add_argument("--relu", action="store_true", help="ReLU before saturation")
    parser.add_argument("--scale", type=float, default=None, metavar="S",
                        help="requantization factor (default: max |acc + bias| maps to 127)")
    parser.add_argument("--bias", metavar="b.npy", default=None,
                        help="int32 bias per row (default 0)")


#: The most elements W may declare (16 Mi, as ``tessera gemm``'s operands); a file that declares
#: more is refused before it is read. x and the bias hold at most the longest activation vector
#: the array's 16-bit fields count (tessera.golden.config.sparse.MAX_FIELD).
MAX_WEIGHTS = 2**24


def load_vector(path, name, max_elements=None):
    """Read the array argument ``name`` (see :func:`tessera.sim.files.load_array`)."""
    from tessera.golden.config.sparse import MAX_FIELD
    from tessera.sim.files import load_array

    return load_array(path, name, max_elements=MAX_FIELD if max_elements is None else max_elements)


# -- the command ---------------------------------------------------------------------------------

def run(args):
    from tessera.golden.errors import TesseraError
    from tessera.sim.files import output_path, write_npy
    from tessera.sim.sparse import spmv_on_array

    output = output_path(args.output)
    w = load_vector(args.weights, "W", MAX_WEIGHTS)
    x = load_vector(args.x, "x")
    bias = load_vector(args.bias, "--bias") if args.bias else None
    if args.scale is not None and not (np.isfinite(args.scale) and args.scale > 0):
        raise TesseraError(f"--scale must be a positive number, not {args.scale}")
    start = time.perf_counter()
    result = spmv_on_array(w, x, n_pes=args.pes, fifo_depth=args.fifo_depth, sim=args.sim,
                           raw=args.raw, relu=args.relu, scale=args.scale, bias=bias,
                           bits=args.bits, rel_bits=args.rel_bits, quantize=args.quantize)
    y = result.pop("y")
    if output is not None:
        write_npy(output, y)
        result["output"] = str(output)
    result["wall_seconds"] = round(time.perf_counter() - start, 2)
    ok = result["match_values"] and result["match_cycles"]
    if args.json:
        print(json.dumps(result))
        return 0 if ok else 1
    rows, cols = result["shape"]
    kind = "int32 accumulators" if args.raw else (
        f"int8 (multiplier {result['multiplier']}, shift {result['shift']}"
        f"{', ReLU' if args.relu else ''})")
    rate = result["simulated_cycles"] / result["seconds"] if result["seconds"] else 0.0
    print(f"y = W @ x: W {rows}x{cols} ({result['nnz']:,} non-zeros; {result['codebook']})")
    print(f"array: {args.pes} PEs, queue depth {args.fifo_depth}, {args.sim} "
          f"({rate:,.0f} simulated cycles/s)")
    print(f"cycles: {result['cycles']:,} ({result['compute_cycles']:,} compute + "
          f"{result['writeback_cycles']:,} write-back)")
    print(f"non-zero activations: {result['nonzero_activations']:,} of {cols:,}")
    print(f"entries: {result['entries']:,} ({result['padding']:,} padding), "
          f"{result['entries_per_cycle_per_pe']:.2f} per cycle per PE")
    print(f"load balance: {100 * result['load_balance']:.1f}%")
    print(f"golden: values {'match' if result['match_values'] else 'DIFFER'}, cycles "
          f"{'match' if result['match_cycles'] else 'DIFFER'} (model "
          f"{result['golden_cycles']:,} + {result['golden_writeback_cycles']:,})")
    if output is not None:
        print(f"wrote {output}: {rows} {kind}")
    return 0 if ok else 1
