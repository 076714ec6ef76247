"""The co-simulation demo (``tessera sim``, ``make sim``): every top's section, against golden.

The sections are the registry's (:data:`tessera.sim.tops.TOPS`, each top's ``demo``), after the
compression table of the golden models, which leaves the compressed model for the sparse
array's section in ``shared["model"]``.
"""

import time

__all__ = ["compression_section", "run_demo"]


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


def run_demo(seed, sim, *, out=print):
    """Run every section, printing each as it finishes; return the number that failed."""
    from tessera.sim.tops import TOPS, resolve

    out(f"tessera demo (seed {seed}, simulator {sim})", flush=True)
    start = time.perf_counter()
    shared = {}
    sections = [lambda: compression_section(seed, sim, shared)]
    sections += [lambda top=top: resolve(top.demo)(seed, sim, shared)
                 for top in TOPS.values() if top.demo]
    failed = 0
    for section in sections:
        lines, ok = section()
        out()
        out("\n".join(lines), flush=True)
        failed += not ok
    out()
    verdict = "PASS" if not failed else f"FAIL ({failed} section(s) did not match)"
    out(f"{verdict}: demo finished in {time.perf_counter() - start:.1f} s")
    return failed
