"""``tessera gemm A.npy B.npy -o C.npy``: C = A @ B on the simulated systolic array.

A and B are int8 matrices (M x K and K x N) in NumPy ``.npy`` files; C is the int32 product.
The engine (:class:`tessera.hw.systolic.SystolicGemm`) is built with buffers sized to the problem
(rounded up to powers of two, so similar problems share a build) unless ``--max-m``,
``--max-k`` and ``--max-n`` fix them. Every input is checked before the simulation starts.

This module is also the host-side API the benchmark and ``tessera sim`` use:
:func:`run_gemms` (several GEMMs in one simulation) and :func:`demo_section`.
"""

import json
import time

import numpy as np
from tessera.golden.errors import TesseraError

HELP = "multiply two int8 matrices on the simulated systolic array (C = A @ B)"

#: The default 8x8 design, spelled as the tests spell it so that they share one build.
DEFAULT_DESIGNS = {"ws": dict(rows=8, cols=8, dataflow="ws"),
                   "os": dict(rows=8, cols=8, dataflow="os")}


def add_arguments(parser):
    parser.add_argument("a", metavar="A.npy", help="M x K int8 matrix")
    parser.add_argument("b", metavar="B.npy", help="K x N int8 matrix")
    parser.add_argument("-o", "--output", metavar="C.npy", help="write C (int32) here")
    parser.add_argument("--rows", type=int, default=8, help="array rows R, 1..32 (default 8)")
    parser.add_argument("--cols", type=int, default=8, help="array columns C, 1..32 (8)")
    parser.add_argument("--dataflow", choices=("ws", "os"), default="ws",
                        help="weight-stationary (default) or output-stationary")
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                        help="simulator (default: verilator)")
    parser.add_argument("--acc-width", type=int, default=32, metavar="BITS",
                        help="accumulator width, 16..32 (default 32)")
    parser.add_argument("--acc-depth", type=int, default=None, metavar="ROWS",
                        help="WS M-tile: rows per accumulator-bank half (default min(max-m, 64))")
    for dim in ("m", "k", "n"):
        parser.add_argument(f"--max-{dim}", type=int, default=None, metavar=dim.upper(),
                            help=f"fix the buffers' largest {dim.upper()} (default: sized to "
                                 "the problem)")
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


def configure(m, k, n, *, rows=8, cols=8, dataflow="ws", acc_width=32, acc_depth=None,
              max_m=None, max_k=None, max_n=None):
    """Return the :class:`~tessera.golden.systolic.SystolicConfig` for an M x K x N GEMM, checked.

    Buffers are sized to the problem unless ``max_m``/``max_k``/``max_n`` are given; a GEMM
    larger than fixed buffers, or a K the accumulator cannot hold, raises TesseraError.
    """
    from tessera.golden.systolic import SystolicConfig, min_acc_width

    if isinstance(acc_width, int) and 16 <= acc_width <= 32 and acc_width < min_acc_width(k):
        raise TesseraError(f"acc_width {acc_width} is too narrow for K = {k}: {k} products of "
                           f"-128 * -128 need acc_width >= {min_acc_width(k)}")
    sized = SystolicConfig.for_problem(m, k, n, rows=rows, cols=cols, dataflow=dataflow,
                                       acc_width=acc_width, acc_depth=acc_depth)
    limits = {name: given if given is not None else getattr(sized, name)
              for name, given in (("max_m", max_m), ("max_k", max_k), ("max_n", max_n))}
    if acc_depth is None and dataflow == "ws":
        acc_depth = min(limits["max_m"], sized.acc_depth)
    config = SystolicConfig(rows=rows, cols=cols, dataflow=dataflow, acc_width=acc_width,
                            acc_depth=acc_depth, **limits)
    config.check(m, k, n)
    return config


def design_params(config):
    """The SystolicGemm parameters of ``config``, spelled like the tests' default designs."""
    params = config.to_dict()
    for default in DEFAULT_DESIGNS.values():
        from tessera.golden.systolic import SystolicConfig

        if SystolicConfig(**default) == config:
            return dict(default)
    if params["acc_depth"] is None:
        del params["acc_depth"]
    return params


def run_gemms(config, jobs, inputs, *, sim="verilator", seed=0, patterns=None):
    """Run GEMMs on the engine in one simulation (:mod:`tessera.sim.cosim.gemm`).

    ``jobs`` are dicts as :mod:`tessera.sim.cosim.gemm` documents, ``inputs`` the arrays they name.
    Returns the :class:`tessera.sim.runner.SimResult` (outputs ``c0``, ``c1``...; report ``cycles``,
    ``simulated``, ``seconds``).
    """
    from tessera.hw.systolic import SystolicGemm
    from tessera.sim.runner import Design, simulate

    params = {"config": config.to_dict(), "jobs": jobs}
    if patterns:
        params["patterns"] = patterns
    return simulate(Design(SystolicGemm, **design_params(config)), "tessera.sim.cosim.gemm",
                    sim=sim, params=params, inputs=inputs, seed=seed)


def gemm(a, b, config, *, sim="verilator", seed=0):
    """Return (C, cycles, seconds) for ``a @ b`` (raw int32) on the simulated engine."""
    result = run_gemms(config, [{"a": "a", "b": "b", "raw": True}], {"a": a, "b": b}, sim=sim,
                       seed=seed)
    return result.outputs["c0"], result.report["cycles"][0], result.report["seconds"]


def run(args):
    from tessera.golden.gemm import gemm_int8
    from tessera.golden.systolic import gemm_cycles
    from tessera.sim.files import output_path, write_npy

    output = output_path(args.output)
    a = load_matrix(args.a, "A", _budget(args.max_m, args.max_k))
    b = load_matrix(args.b, "B", _budget(args.max_k, args.max_n))
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise TesseraError(f"cannot multiply A ({m}x{k}) by B ({k2}x{n}): inner sizes differ")
    config = configure(m, k, n, rows=args.rows, cols=args.cols, dataflow=args.dataflow,
                       acc_width=args.acc_width, acc_depth=args.acc_depth, max_m=args.max_m,
                       max_k=args.max_k, max_n=args.max_n)
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
        "dataflow": config.dataflow, "simulator": args.sim, "cycles": cycles,
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


def demo_section(seed: int, sim: str) -> tuple[list[str], bool]:
    """Co-simulate a random GEMM and an im2col convolution on the default 8x8 array.

    Both run in one simulation against the golden models (:func:`tessera.golden.gemm.gemm_int8`,
    :func:`tessera.golden.gemm.conv2d_int8` and :func:`tessera.golden.quant.requantize`), and their
    cycle counts
    against :func:`tessera.golden.systolic.gemm_cycles`. Returns the lines to print and whether
    everything matched.
    """
    from tessera.golden.gemm import conv2d_int8, gemm_int8, im2col, kernel_to_matrix
    from tessera.golden.quant import quantize_multiplier, requantize
    from tessera.golden.systolic import SystolicConfig, gemm_cycles

    config = SystolicConfig(**DEFAULT_DESIGNS["ws"])
    rng = np.random.default_rng(seed)
    m, k, n = 48, 40, 36
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    x = rng.integers(-128, 128, (1, 8, 8, 4), dtype=np.int8)
    kernel = rng.integers(-128, 128, (8, 3, 3, 4), dtype=np.int8)
    patches = im2col(x, 3, padding=1)
    pa = patches.reshape(-1, patches.shape[-1])
    pb = np.ascontiguousarray(kernel_to_matrix(kernel).T)
    bias = rng.integers(-20000, 20000, 8)
    multiplier, shift = quantize_multiplier(np.full(8, 1 / 3000.0))
    inputs = {"a": a, "b": b, "pa": pa, "pb": pb, "bias": bias, "multiplier": multiplier,
              "shift": shift}
    jobs = [{"a": "a", "b": "b", "raw": True},
            {"a": "pa", "b": "pb", "relu": True, "bias": "bias", "multiplier": "multiplier",
             "shift": "shift"}]
    result = run_gemms(config, jobs, inputs, sim=sim, seed=seed)
    cycles = result.report["cycles"]
    got_gemm, got_conv = result.outputs["c0"], result.outputs["c1"]
    want_gemm = gemm_int8(a, b)
    want_conv = requantize(conv2d_int8(x, kernel, padding=1), bias, multiplier, shift, relu=True)
    model = [gemm_cycles(config, m, k, n, raw=True), gemm_cycles(config, *pa.shape, 8)]
    ok_gemm = int((got_gemm == want_gemm).sum())
    ok_conv = int((got_conv.reshape(want_conv.shape) == want_conv).sum())
    rate = result.report["simulated"] / result.report["seconds"]
    lines = [
        f"[GEMM] C = A @ B, {m}x{k} @ {k}x{n} int8 on the 8x8 weight-stationary systolic array "
        f"({sim})",
        f"     matched NumPy: {ok_gemm}/{want_gemm.size}; {cycles[0]:,} cycles (golden model "
        f"{model[0].cycles:,}), {100 * model[0].macs / (64 * cycles[0]):.1f}% of the MACs busy",
        f"[CONV] 3x3 convolution 1x8x8x4 -> 1x8x8x8 as an im2col GEMM {pa.shape[0]}x{pa.shape[1]}"
        f" @ {pb.shape[0]}x{pb.shape[1]}, requantized with ReLU",
        f"     matched golden: {ok_conv}/{want_conv.size}; {cycles[1]:,} cycles (golden model "
        f"{model[1].cycles:,})",
        f"     {result.report['simulated']:,} cycles simulated, {rate:,.0f} simulated cycles/s",
    ]
    ok = (ok_gemm == want_gemm.size and ok_conv == want_conv.size
          and cycles == [t.cycles for t in model])
    return lines, ok
