"""Systolic GEMM engine: utilization (golden cycle model and co-simulation) and simulation speed.

- Utilization of a 256x256x256 int8 GEMM on a 16x16 array, weight- and output-stationary, from
  :func:`tessera.golden.systolic.gemm_cycles`, and measured: the GEMM runs on Verilator and Icarus,
  whose
  cycle counters must equal the model (the run fails otherwise) and whose results must equal
  NumPy's.
- Utilization against M for K = N = 256 on 16x16 (model curves, measured points), plotted to
  ``build/bench/systolic_utilization.png``.
- Simulated clock cycles per second of that GEMM on each simulator (the cocotb driver included).

Icarus simulates the busy 16x16 array at roughly 120 cycles/s (Verilator, driver included, at
about 18,000), so the full 256^3 GEMM would take some ten minutes there: the Icarus run is
64x256x256 unless ``TESSERA_BENCH_ICARUS_M`` says otherwise (256 for the target's GEMM).
"""

import os
import time
from pathlib import Path

import numpy as np

TITLE = "systolic array: utilization of 256^3 on 16x16 (target >= 90%), plot vs M, sim speed"

SIZE = 256
SIDE = 16
PLOT = Path("build/bench/systolic_utilization.png")
ICARUS_M = 64
M_SWEEP = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]


def _config(dataflow, m=SIZE):
    from tessera.golden.config import SystolicConfig

    return SystolicConfig(rows=SIDE, cols=SIDE, dataflow=dataflow, max_m=max(m, SIZE),
                          max_k=SIZE, max_n=SIZE)


def _measure(dataflow, sim, m, seed=0):
    from tessera.golden.gemm import gemm_int8
    from tessera.golden.systolic import gemm_cycles
    from tessera.sim.systolic import gemm

    cfg = _config(dataflow)
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, SIZE), dtype=np.int8)
    b = rng.integers(-128, 128, (SIZE, SIZE), dtype=np.int8)
    start = time.perf_counter()
    c, cycles, seconds = gemm(a, b, cfg, sim=sim, seed=seed)
    wall = time.perf_counter() - start
    model = gemm_cycles(cfg, m, SIZE, SIZE, raw=True)
    if not np.array_equal(c, gemm_int8(a, b)):
        raise AssertionError(f"{sim}: the {m}x{SIZE}x{SIZE} GEMM differs from NumPy")
    if cycles != model.cycles:
        raise AssertionError(f"{sim}: {cycles} cycles, the golden model says {model.cycles}")
    return {"m": m, "k": SIZE, "n": SIZE, "dataflow": dataflow, "simulator": sim,
            "cycles": cycles, "utilization": round(model.macs / (cfg.macs * cycles), 4),
            "matches_numpy": True, "equals_model": True,
            "cycles_per_second": round(cycles / seconds), "sim_seconds": round(seconds, 2),
            "wall_seconds_with_build": round(wall, 1)}


def _plot(curves, measured):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    names = {"ws": "weight-stationary", "os": "output-stationary"}
    for dataflow, points in curves.items():
        ms = [p["m"] for p in points]
        ax.plot(ms, [100 * p["utilization"] for p in points], marker="o", markersize=3,
                label=f"{names[dataflow]} (golden cycle model)")
    for point in measured:
        ax.plot(point["m"], 100 * point["utilization"], marker="x", color="black",
                markersize=9, linestyle="none")
    ax.plot([], [], marker="x", color="black", linestyle="none",
            label="measured (co-simulation)")
    ax.axhline(90, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("M (rows of A), K = N = 256")
    ax.set_ylabel("utilization (%): useful MACs / (256 x cycles)")
    ax.set_title("tessera 16x16 int8 systolic array")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT)
    plt.close(fig)


def run():
    """Compute the model figures, run the GEMMs on both simulators, plot; return the figures."""
    from tessera.golden.systolic import gemm_cycles

    figures = {"array": f"{SIDE}x{SIDE}", "gemm": f"{SIZE}x{SIZE}x{SIZE}"}
    curves = {}
    for dataflow in ("ws", "os"):
        t = gemm_cycles(_config(dataflow), SIZE, SIZE, SIZE)
        figures[f"model_{dataflow}"] = {"cycles": t.cycles, "utilization": round(t.utilization,
                                                                                  4)}
        print(f"   model {dataflow}: {SIZE}^3 on {SIDE}x{SIDE}: {t.cycles:,} cycles, "
              f"{100 * t.utilization:.1f}% utilization", flush=True)
        curves[dataflow] = [
            {"m": m, "utilization": round(gemm_cycles(_config(dataflow, m), m, SIZE, SIZE)
                                          .utilization, 4)} for m in M_SWEEP]
    figures["utilization_vs_m"] = curves

    measured = []
    icarus_m = int(os.environ.get("TESSERA_BENCH_ICARUS_M", ICARUS_M))
    for sim, m in (("verilator", SIZE), ("icarus", icarus_m)):
        for dataflow in ("ws", "os") if sim == "verilator" else ("ws",):
            point = _measure(dataflow, sim, m)
            measured.append(point)
            print(f"   {sim} {dataflow}: {m}x{SIZE}x{SIZE} on {SIDE}x{SIDE}: "
                  f"{point['cycles']:,} cycles (= model), {100 * point['utilization']:.1f}% "
                  f"utilization, {point['cycles_per_second']:,} simulated cycles/s "
                  f"({point['sim_seconds']} s; {point['wall_seconds_with_build']} s with the "
                  f"build)", flush=True)
    for m in (16, 64):
        point = _measure("ws", "verilator", m)
        measured.append(point)
        print(f"   verilator ws: {m}x{SIZE}x{SIZE}: {100 * point['utilization']:.1f}% "
              f"utilization (= model)", flush=True)
    figures["measured"] = measured
    _plot(curves, [p for p in measured if p["dataflow"] == "ws"])
    figures["plot"] = str(PLOT)
    print(f"   plot -> {PLOT}", flush=True)
    return figures
