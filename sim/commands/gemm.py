"""``tessera gemm A.npy B.npy -o C.npy``: C = A @ B on the simulated systolic array.

A and B are int8 matrices (M x K and K x N) in NumPy ``.npy`` files; C is the int32 product.
The engine (:class:`tessera.hw.systolic.SystolicGemm`) is built with buffers sized to the problem
(rounded up to powers of two, so similar problems share a build) unless ``--max-m``,
``--max-k`` and ``--max-n`` fix them. Every input is checked before the simulation starts.

The work is :mod:`tessera.sim.systolic` (:func:`~tessera.sim.systolic.configure`,
:func:`~tessera.sim.systolic.gemm`); this module parses, calls it and prints.
"""

import json
import time

import numpy as np
from tessera.golden.errors import TesseraError

HELP = "multiply two int8 matrices on the simulated systolic array (C = A @ B)"

def add_arguments(parser):
    from tessera.sim.tops import TOPS

    parser.add_argument("a", metavar="A.npy", help="M x K int8 matrix")
    parser.add_argument("b", metavar="B.npy", help="K x N int8 matrix")
    parser.add_argument("-o", "--output", metavar="C.npy", help="write C (int32) here")
    # The engine's options and defaults are the registry's; only the buffers' limits mean
    # something else here (sized to the problem unless fixed).
    top = TOPS["systolic"]
    top.add_arguments(parser, only=("rows", "cols", "dataflow", "acc_width", "acc_depth",
                                     "lanes"))
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                        help="simulator (default: verilator)")
    for dim in ("m", "k", "n"):
        top.option(f"max_{dim}").add_to(
            parser, default=None,
            help=f"fix the buffers' largest {dim.upper()} (default: sized to the problem)")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


#: The most elements an operand may hold when ``--max-m/k/n`` do not fix the buffers (16 Mi
#: int8: a 4096 x 4096 matrix); a file that declares more is refused before it is read.
MAX_OPERAND = 2**24


def load_matrix(path, name, max_elements=MAX_OPERAND):
    """Read an int8 matrix from a .npy file; raise TesseraError (one line) otherwise."""
    from tessera.sim.files import load_array

    array = load_array(path, name, max_elements=max_elements)
    if array.dtype != np.int8:
        raise TesseraError(f"{name} must be an int8 matrix, not {array.dtype} ({path})")
    if array.ndim != 2:
        raise TesseraError(f"{name} must be a 2-D matrix, not {array.ndim}-D with shape "
                           f"{array.shape} ({path})")
    if 0 in array.shape:
        raise TesseraError(f"{name} is empty (shape {array.shape})")
    return array


def _budget(first, second):
    """The element budget of an operand whose buffer is ``first`` x ``second`` (None: default)."""
    if first is None or second is None:
        return MAX_OPERAND
    return max(1, first) * max(1, second)


def run(args):
    from tessera.golden.gemm import gemm_int8
    from tessera.golden.systolic import gemm_cycles
    from tessera.sim.files import output_path, write_npy
    from tessera.sim.systolic import configure, gemm

    output = output_path(args.output)
    a = load_matrix(args.a, "A", _budget(args.max_m, args.max_k))
    b = load_matrix(args.b, "B", _budget(args.max_k, args.max_n))
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise TesseraError(f"cannot multiply A ({m}x{k}) by B ({k2}x{n}): inner sizes differ")
    config = configure(m, k, n, rows=args.rows, cols=args.cols, dataflow=args.dataflow,
                       acc_width=args.acc_width, acc_depth=args.acc_depth, max_m=args.max_m,
                       max_k=args.max_k, max_n=args.max_n, lanes=args.lanes)
    if args.sim not in ("verilator", "icarus"):
        raise TesseraError(f"unknown simulator {args.sim!r}")

    start = time.perf_counter()
    c, cycles, _ = gemm(a, b, config, sim=args.sim, seed=args.seed)
    seconds = time.perf_counter() - start
    model = gemm_cycles(config, m, k, n, raw=True)
    matches = bool(np.array_equal(c, gemm_int8(a, b)))
    if output is not None:
        write_npy(output, c.astype(np.int32))
    utilization = model.macs / (config.macs * cycles)
    summary = {
        "m": m, "k": k, "n": n, "rows": config.rows, "cols": config.cols,
        "dataflow": config.dataflow, "lanes": config.lanes, "simulator": args.sim,
        "cycles": cycles,
        "macs": model.macs, "utilization": round(utilization, 6),
        "model_cycles": model.cycles, "matches_golden": matches,
        "buffers": {"max_m": config.max_m, "max_k": config.max_k, "max_n": config.max_n},
        "output": str(output) if output else None, "seconds": round(seconds, 2),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        name = {"ws": "weight-stationary", "os": "output-stationary"}[config.dataflow]
        print(f"C = A @ B: {m}x{k} @ {k}x{n} on the {config.rows}x{config.cols} {name} systolic "
              f"array ({args.sim}, buffers {config.max_m}x{config.max_k}x{config.max_n})")
        print(f"cycles: {cycles:,}   useful MACs: {model.macs:,}   utilization: "
              f"{100 * utilization:.1f}%   (golden cycle model: {model.cycles:,})")
        print(f"matches golden.gemm_int8: {'yes' if matches else 'NO'}"
              + (f"; wrote {output} (int32, {m}x{n})" if output else "")
              + f"; {seconds:.1f} s")
    return 0 if matches else 1
