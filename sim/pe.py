"""The MAC processing element on the simulator: streams of int8 dot products against NumPy."""

__all__ = ["pe_dot_products"]


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
