"""EIE's load-balance study (Table III layers, Fig. 8) on tessera's sparse PE array.

1. *Golden cycle model at full size*: the nine layers of EIE's Table III (random weights and
   activations at the table's densities, 4-bit relative indices with padding), on 64 PEs, for
   queue depths 2, 4, 8, 16 and 32. Load balance (EIE: useful cycles over total cycles,
   averaged over PEs) per layer and depth; the target is >= 90% at depth 8 on the average. A
   plot of efficiency against depth goes to build/bench/sparse_load_balance.png.
2. *Hardware co-simulation* of scaled versions (16 PEs, the same rows per PE, an eighth of the
   columns, depth 8) of every layer on Verilator, and of two on Icarus: the counters must equal
   the model's; simulated cycles per second on both simulators.
3. *Throughput*: entries per cycle per PE, and GOP/s (2 operations per entry, as EIE counts)
   at the Fmax of synthesis when build/synth has it (``make synth``), beside EIE's 102 GOP/s.
"""

import json
import time
from pathlib import Path

import numpy as np

TITLE = "EIE Table III load balance: golden cycle model at full size, hardware on scaled layers"

#: EIE Table III: name, inputs (columns), outputs (rows), weight density, activation density.
LAYERS = [
    ("Alex-6", 9216, 4096, 0.09, 0.351),
    ("Alex-7", 4096, 4096, 0.09, 0.353),
    ("Alex-8", 4096, 1000, 0.25, 0.375),
    ("VGG-6", 25088, 4096, 0.04, 0.183),
    ("VGG-7", 4096, 4096, 0.04, 0.375),
    ("VGG-8", 4096, 1000, 0.23, 0.411),
    ("NT-We", 4096, 600, 0.10, 1.0),
    ("NT-Wd", 600, 8791, 0.11, 1.0),
    ("NT-LSTM", 1201, 2400, 0.10, 1.0),
]
#: EIE Table IV, "EIE actual" time in microseconds (64 PEs, 800 MHz), same order.
EIE_ACTUAL_US = [30.3, 12.2, 9.9, 34.4, 8.7, 8.4, 8.0, 13.9, 7.5]
DEPTHS = (2, 4, 8, 16, 32)
N_PES = 64
REL_BITS = 4
EIE_MHZ = 800

#: The scaled hardware runs: PEs, and the divisor of the columns.
HW_PES = 16
HW_COL_DIVISOR = 8
HW_DEPTH = 8
ICARUS_LAYERS = ("Alex-8", "NT-We")

OUT = Path("build/bench")


def layer_work(rng, rows, cols, density, n_pes, *, block=2048):
    """Entries per PE per column (padding included) and non-zeros per column of a random
    ``rows x cols`` matrix at ``density``, drawn a block of columns at a time (never held
    densely in full)."""
    from tessera.golden.sparse_cycles import entries_from_coo

    parts, nonzeros = [], []
    for first in range(0, cols, block):
        width = min(block, cols - first)
        r, c = np.nonzero(rng.random((rows, width)) < density)
        parts.append(entries_from_coo(r, c, (rows, width), n_pes=n_pes, rel_bits=REL_BITS))
        nonzeros.append(np.bincount(c, minlength=width))
    return np.concatenate(parts, axis=1), np.concatenate(nonzeros)


def model_study(seed=0):
    """Part 1: the golden model on the nine layers at full size; returns a dict of figures."""
    from tessera.golden.sparse_cycles import layer_cycles

    rng = np.random.default_rng(seed)
    results = []
    print(f"   golden cycle model, {N_PES} PEs, full-size layers, load balance per queue depth:",
          flush=True)
    print(f"   {'layer':<8} {'size':>12} {'entries':>10} {'pad':>5} "
          + " ".join(f"{'D=' + str(d):>6}" for d in DEPTHS)
          + f"  {'us@800':>7} {'EIE':>5}", flush=True)
    for (name, cols, rows, density, act_density), eie_us in zip(LAYERS, EIE_ACTUAL_US):
        start = time.perf_counter()
        entries, nonzeros = layer_work(rng, rows, cols, density, N_PES)
        x = rng.random(cols) < act_density
        work = int((entries[:, x]).sum())
        pad = 1 - float(nonzeros[x].sum()) / work
        efficiency, cycles = {}, {}
        for depth in DEPTHS:
            c = layer_cycles(entries, x, fifo_depth=depth, rows=rows, emit=False)
            efficiency[depth] = c.load_balance
            cycles[depth] = c.cycles
        seconds = time.perf_counter() - start
        results.append({
            "layer": name, "rows": rows, "cols": cols, "density": density,
            "activation_density": act_density, "entries": work,
            "padding_fraction": round(pad, 4),
            "load_balance": {str(d): round(e, 4) for d, e in efficiency.items()},
            "cycles": {str(d): c for d, c in cycles.items()},
            "ideal_cycles": -(-work // N_PES),
            "us_at_800mhz_depth8": round(cycles[8] / EIE_MHZ, 2),
            "eie_actual_us": eie_us, "model_seconds": round(seconds, 2),
        })
        print(f"   {name:<8} {f'{rows}x{cols}':>12} {work:>10,} {100 * pad:>4.1f}% "
              + " ".join(f"{100 * efficiency[d]:>5.1f}%" for d in DEPTHS)
              + f"  {cycles[8] / EIE_MHZ:>7.1f} {eie_us:>5.1f}", flush=True)
    average = {str(d): round(float(np.mean([r["load_balance"][str(d)] for r in results])), 4)
               for d in DEPTHS}
    print("   average  " + " " * 30 + " ".join(f"{100 * average[str(d)]:>5.1f}%" for d in DEPTHS),
          flush=True)
    target = average["8"] >= 0.90
    print(f"   target: load balance >= 90% at depth 8 on the average: "
          f"{100 * average['8']:.1f}% -> {'met' if target else 'NOT met'}", flush=True)
    return {"layers": results, "average_load_balance": average, "target_met": bool(target)}


def plot(study, path):
    """Efficiency against queue depth, one line per layer and the average (EIE's Fig. 8)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for r in study["layers"]:
        ax.plot(DEPTHS, [100 * r["load_balance"][str(d)] for d in DEPTHS], marker="o", lw=1,
                ms=3, label=r["layer"])
    ax.plot(DEPTHS, [100 * study["average_load_balance"][str(d)] for d in DEPTHS], color="k",
            lw=2.5, marker="s", label="average")
    ax.axhline(90, color="grey", ls="--", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xticks(DEPTHS, [str(d) for d in DEPTHS])
    ax.set_xlabel("activation queue depth")
    ax.set_ylabel("load balance (useful cycles / cycles), %")
    ax.set_title(f"tessera sparse array, {N_PES} PEs, EIE Table III layers (golden model)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def scaled_layer(rng, name, cols, rows, density, act_density):
    """A scaled layer: the same rows per PE on HW_PES PEs, 1/HW_COL_DIVISOR of the columns."""
    from tessera.golden.eie import encode

    rows = max(1, rows * HW_PES // N_PES)
    cols = max(1, cols // HW_COL_DIVISOR)
    codebook = np.concatenate([[0], rng.permutation(np.arange(1, 128))[:15]
                               * rng.choice([-1, 1], 15)])
    indices = (rng.random((rows, cols)) < density) * rng.integers(1, 16, (rows, cols))
    matrix = encode(indices, codebook, n_pes=HW_PES, rel_bits=REL_BITS, index_bits=4)
    x = rng.integers(1, 128, cols).astype(np.int8) * rng.choice(np.array([-1, 1], np.int8), cols)
    x[rng.random(cols) >= act_density] = 0
    return matrix, x


def _check_run(design, config, matrix, x, sim, seed, *, repeats=0):
    """Load and run one layer (then ``repeats`` more runs of it); return figures and report."""
    from tessera.golden.eie import spmv
    from tessera.golden.sparse_cycles import matrix_cycles
    from tessera.sim.host.sparse import Program, parse_stats, stats_words
    from tessera.sim.sparse import execute

    program = Program(config)
    layer = program.load(matrix)
    commands = len(program.words)
    program.activations(x, matrix.cols)
    program.run(layer, raw=True, emit=True)
    program.stats()
    for _ in range(repeats):  # cycles without command traffic: the free-running rate
        program.run(layer, raw=True, emit=False, codebook=False)
    outputs = matrix.rows + stats_words(config)
    out, report = execute(design, program.words, outputs, sim=sim, seed=seed)
    stats = parse_stats(out[matrix.rows:], config)
    model = matrix_cycles(matrix, x, fifo_depth=config.fifo_depth)
    values_ok = bool(np.array_equal(out[:matrix.rows], spmv(matrix, x, overflow="wrap").y))
    cycles_ok = bool(stats["cycles"] == model.cycles
                     and stats["writeback_cycles"] == model.writeback
                     and np.array_equal(stats["busy"], model.busy)
                     and np.array_equal(stats["stall"], model.stall))
    return model, stats, values_ok, cycles_ok, report, commands


def hardware_study(seed=0):
    """Part 2: scaled layers on the simulated array; model == hardware, cycles per second."""
    from tessera.golden.config import SparseConfig
    from tessera.sim.sparse import array_design

    rng = np.random.default_rng(seed + 1)
    cases = [(name, *scaled_layer(rng, name, cols, rows, d, a))
             for name, cols, rows, d, a in LAYERS]
    design = array_design([m for _, m, _ in cases], n_pes=HW_PES, fifo_depth=HW_DEPTH)
    config = SparseConfig(**design.params)
    print(f"   hardware: {HW_PES} PEs, depth {HW_DEPTH}, layers with {HW_PES}/{N_PES} of the "
          f"rows and 1/{HW_COL_DIVISOR} of the columns", flush=True)
    runs = []
    for sim in ("verilator", "icarus"):
        for name, matrix, x in cases:
            if sim == "icarus" and name not in ICARUS_LAYERS:
                continue
            model, stats, values_ok, cycles_ok, report, commands = _check_run(
                design, config, matrix, x, sim, seed)
            runs.append({"layer": name, "simulator": sim, "shape": list(matrix.shape),
                         "entries": model.entries, "cycles": stats["cycles"],
                         "model_cycles": model.cycles, "load_balance": model.load_balance,
                         "values_match": values_ok, "cycles_match": cycles_ok,
                         "commands": commands, "simulated_cycles": report["cycles"],
                         "seconds": round(report["seconds"], 2)})
            print(f"   {sim:<9} {name:<8} {matrix.rows:>4}x{matrix.cols:<5} "
                  f"{model.entries:>7,} entries: hw {stats['cycles']:>6,} cycles, model "
                  f"{model.cycles:>6,}, load balance {100 * model.load_balance:5.1f}%, values "
                  f"{'ok' if values_ok else 'DIFFER'}, counters "
                  f"{'ok' if cycles_ok else 'DIFFER'}", flush=True)
    # Simulation speed: one layer loaded (one command a cycle, Python in every cycle), then
    # the same layer run many times (the clock runs free, Python waits for the end).
    name, matrix, x = cases[1]
    rates = {}
    for sim, repeats in (("verilator", 40), ("icarus", 6)):
        *_, base, commands = _check_run(design, config, matrix, x, sim, seed)
        *_, more, _ = _check_run(design, config, matrix, x, sim, seed, repeats=repeats)
        free = (more["cycles"] - base["cycles"]) / max(more["seconds"] - base["seconds"], 1e-9)
        rates[sim] = {"with_commands": round(base["cycles"] / base["seconds"]),
                      "free_running": round(free)}
        print(f"   {sim}: {rates[sim]['with_commands']:,} cycles/s while loading "
              f"{commands:,} commands, {rates[sim]['free_running']:,} cycles/s computing "
              f"({HW_PES} PEs, {name} scaled, {repeats} runs)", flush=True)
    return {"runs": runs, "cycles_per_second": rates,
            "all_match": all(r["values_match"] and r["cycles_match"] for r in runs)}


def throughput(study):
    """Part 3: entries per cycle per PE, and GOP/s at the synthesized Fmax when known."""
    eff = study["average_load_balance"]["8"]
    figures = {"entries_per_cycle_per_pe": round(eff, 4),
               "eie_gops": 2 * N_PES * EIE_MHZ / 1000,
               "gops_64pe_at_800mhz": round(2 * N_PES * EIE_MHZ / 1000 * eff, 1)}
    print(f"   entries per cycle per PE (depth 8, average): {eff:.3f}; at EIE's 64 PEs x "
          f"800 MHz that is {figures['gops_64pe_at_800mhz']} GOP/s of EIE's 102.4 peak",
          flush=True)
    fmax = _synth_fmax()
    for name, mhz, pes in fmax:
        gops = 2 * pes * mhz * eff / 1000
        figures[f"gops_{name}"] = round(gops, 2)
        print(f"   {name}: {pes} PEs at {mhz:.1f} MHz (Fmax) -> {gops:.2f} GOP/s "
              f"({2 * pes * mhz / 1000:.2f} peak)", flush=True)
    if not fmax:
        print("   (no synthesis results in build/synth: run `make synth` for GOP/s at Fmax)",
              flush=True)
    return figures


def _synth_fmax():
    """(target, Fmax MHz, PEs) of the newest sparse synthesis results under build/synth."""
    newest = {}
    for path in Path("build/synth").glob("*/sparse-*/result-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        name = path.parent.name.rsplit("-", 1)[0]  # the target, without the design key
        mhz = data.get("fmax_mhz")
        pes = (data.get("params") or {}).get("n_pes")
        if mhz and pes and (name not in newest or path.stat().st_mtime > newest[name][0]):
            newest[name] = (path.stat().st_mtime, float(mhz), int(pes))
    return [(name, mhz, pes) for name, (_, mhz, pes) in sorted(newest.items())]


def run():
    figures = {}
    study = model_study()
    figures["model"] = study
    png = OUT / "sparse_load_balance.png"
    plot(study, png)
    print(f"   plot: {png}", flush=True)
    figures["plot"] = str(png)
    figures["hardware"] = hardware_study()
    figures["throughput"] = throughput(study)
    return figures
