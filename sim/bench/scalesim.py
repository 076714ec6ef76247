"""The systolic engine against SCALE-Sim 3.0's conventional array (issue 10's workloads).

tessera's cycles are the golden cycle model's (:func:`tessera.golden.systolic.gemm_cycles`,
which the hardware's cycle counter equals: ``tests/hw/test_systolic*.py``, and the ``systolic``
benchmark measures it), for the configuration ``tessera gemm`` builds
(:meth:`~tessera.golden.config.SystolicConfig.for_problem`), with requantized outputs.
SCALE-Sim's are its closed forms (:mod:`tessera.golden.scalesim`). Both dataflows.

The engine drains a row of ``C`` results a cycle, as SCALE-Sim's array does (the output path's
``lanes``), so a GEMM's output takes at least ``M * ceil(N / C)`` cycles; a row is flagged
"output path" when that bound is above its compute.
"""

TITLE = "systolic engine vs SCALE-Sim 3.0 (closed forms), issue 10's workloads, WS and OS"

#: (name, array side, M, K, N): issue 10's workloads.
WORKLOADS = (
    *((f"{m}x256 @ 256x256", 16, m, 256, 256) for m in (16, 32, 64, 128, 256)),
    ("LeNet-5 conv1 576x25 @ 25x6", 16, 576, 25, 6),
    ("LeNet-5 conv2 64x150 @ 150x16", 16, 64, 150, 16),
    ("AlexNet conv3 169x2304 @ 2304x384", 16, 169, 2304, 384),
    ("48x40 @ 40x36", 8, 48, 40, 36),
    ("100x70 @ 70x50", 8, 100, 70, 50),
)


def compare(name, side, m, k, n, dataflow):
    """One row: tessera's and SCALE-Sim's cycles and utilizations of one workload."""
    from tessera.golden.config import SystolicConfig
    from tessera.golden.scalesim import scalesim_cycles
    from tessera.golden.systolic import gemm_cycles, result_lanes

    config = SystolicConfig.for_problem(m, k, n, rows=side, cols=side, dataflow=dataflow)
    timing = gemm_cycles(config, m, k, n)
    theirs = scalesim_cycles(m, k, n, rows=side, cols=side, dataflow=dataflow)
    return {"workload": name, "array": f"{side}x{side}", "m": m, "k": k, "n": n,
            "dataflow": dataflow, "tessera_cycles": timing.cycles,
            "tessera_utilization": round(timing.utilization, 6), "scalesim_cycles": theirs,
            "scalesim_utilization": round(m * k * n / (side * side * theirs), 6),
            "ratio": round(timing.cycles / theirs, 3), "at_most_scalesim": timing.cycles <= theirs,
            "output_bound": len(result_lanes(m, n, config)) > timing.compute_cycles}


def run():
    rows = [compare(*workload, dataflow) for dataflow in ("ws", "os")
            for workload in WORKLOADS]
    print(f"   {'workload':<36} {'array':>5} {'df':>2} {'tessera':>9} {'util':>6} "
          f"{'SCALE-Sim':>9} {'util':>6} {'ratio':>6}")
    for r in rows:
        mark = "" if r["at_most_scalesim"] else "  above" + (
            " (output path: a word of C results a cycle)" if r["output_bound"] else "")
        print(f"   {r['workload']:<36} {r['array']:>5} {r['dataflow']:>2} "
              f"{r['tessera_cycles']:>9,} {r['tessera_utilization']:>6.1%} "
              f"{r['scalesim_cycles']:>9,} {r['scalesim_utilization']:>6.1%} "
              f"{r['ratio']:>6.3f}{mark}")
    above = [r for r in rows if not r["at_most_scalesim"]]
    print(f"   tessera <= SCALE-Sim on {len(rows) - len(above)} of {len(rows)}; above on "
          f"{', '.join(sorted({r['workload'] for r in above})) or 'none'}")
    return {"rows": rows, "at_most_scalesim": len(rows) - len(above), "of": len(rows)}
