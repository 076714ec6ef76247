"""``tessera sim``: the main job (``make sim``), a co-simulation demo against the golden models."""

HELP = "run the co-simulation demo against the golden models (what `make sim` runs)"


def add_arguments(parser):
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                        help="simulator (default: verilator)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--dots", type=int, default=2000, metavar="N",
                        help="number of int8 dot products to stream through the PE (2000)")
    parser.add_argument("--length", type=int, default=16, metavar="K",
                        help="length of each dot product (16)")


def pe_dot_products(count, length, seed, sim):
    """Stream ``count`` random int8 dot products of ``length`` through one PE.

    Returns a dict with the number matched against NumPy, cycles and cycles per second.
    """
    import numpy as np
    from tessera.golden.errors import TesseraError
    from tessera.hw.pe import MACPE
    from tessera.sim.runner import Design, simulate

    if count < 1 or length < 1:
        raise TesseraError("--dots and --length must be at least 1")
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (count, length), dtype=np.int8)
    w = rng.integers(-128, 128, (count, length), dtype=np.int8)
    expected = (a.astype(np.int64) * w.astype(np.int64)).sum(axis=1)
    result = simulate(Design(MACPE), "tessera.sim.cosim.pe_dot", sim=sim, inputs={"a": a, "w": w},
                      seed=seed)
    got = result.outputs["dots"]
    cycles, seconds = result.report["cycles"], result.report["seconds"]
    return {
        "dots": count,
        "length": length,
        "matched": int((got == expected).sum()),
        "cycles": cycles,
        "cycles_per_second": cycles / seconds if seconds else float("inf"),
        "simulator": sim,
    }


def compression_section(seed, sim, shared):
    """Deep Compression of the digits MLP: the golden models' table (no simulator involved).

    The compressed model is left in ``shared["model"]`` for the sparse array's section.
    """
    from tessera.golden.report import compress_default_mlp

    table, accuracies, shared["model"] = compress_default_mlp(seed=seed)
    drop = accuracies["float"] - accuracies["compressed"]
    lines = ["[Compression] the digits MLP through prune -> share -> quantize -> encode (golden/)",
             *("     " + line for line in table.rstrip().splitlines())]
    return lines, drop <= 0.005


def pe_section(seed, sim, dots=2000, length=16):
    pe = pe_dot_products(dots, length, seed, sim)
    lines = [
        f"[PE] {pe['dots']} random int8 dot products of length {pe['length']} through one MAC "
        f"PE on {pe['simulator']}",
        f"     matched NumPy: {pe['matched']}/{pe['dots']}",
        f"     cycles simulated: {pe['cycles']}, "
        f"{pe['cycles_per_second']:,.0f} simulated cycles/s",
    ]
    return lines, pe["matched"] == pe["dots"]


def run(args):
    import time

    from .gemm import demo_section as gemm_section
    from .spmv import demo_section as sparse_section

    print(f"tessera demo (seed {args.seed}, simulator {args.sim})", flush=True)
    start = time.perf_counter()
    shared = {}
    sections = [
        lambda: compression_section(args.seed, args.sim, shared),
        lambda: pe_section(args.seed, args.sim, args.dots, args.length),
        lambda: gemm_section(args.seed, args.sim),
        lambda: sparse_section(args.seed, args.sim, model=shared.get("model")),
    ]
    failed = 0
    for section in sections:
        lines, ok = section()
        print()
        print("\n".join(lines), flush=True)
        failed += not ok
    print()
    verdict = "PASS" if not failed else f"FAIL ({failed} section(s) did not match)"
    print(f"{verdict}: demo finished in {time.perf_counter() - start:.1f} s")
    return 0 if not failed else 1
