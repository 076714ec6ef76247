"""Throughput of every synthesized configuration: GOP/s, per DSP block and per thousand LUTs.

For each result of ``make synth`` in ``build/bench/synth.json`` whose top multiplies (the
systolic engine, the sparse array, the system), issue 12's figures:

- **GOP/s = 2 x MACs x Fmax x utilization**, two operations a multiply-accumulate (EIE counts an
  entry as two), with the utilization the golden cycle models give (the hardware's counters
  equal them, every test checks it) on a stated workload:

  - systolic: the largest GEMM its buffers hold (``max_m x max_k x max_n``), in its dataflow;
  - sparse: the average load balance at queue depth 8 over EIE's nine layers at full size
    (:func:`tessera.sim.bench.sparse.model_study`);
  - system: the digits CNN compiled for it, over the first :data:`SYSTEM_DIGITS` test digits,
    MACs done (a CONV's ``M*K*N``, an FC's issued entries) over (R*C + PEs) x cycles;

- **peak GOP/s** (utilization 1), and both per MULT18X18D / SB_MAC16 and per 1,000 LUTs.

The two public int8 8x8 arrays issue 4 compared against, built through the same flow
(:data:`PUBLIC_ARRAYS`), are listed beside them at their peak: their utilization was not
measured here, so theirs are upper bounds. Results that did not fit or were not synthesized
are skipped with a line saying so. Printed, and returned for ``build/bench/throughput.json``.
"""

import contextlib
import io
import json
from pathlib import Path

TITLE = "GOP/s of every synthesized configuration, per DSP block and per 1,000 LUTs"

#: Where ``make synth`` merges its results.
SYNTH_RESULTS = Path("build/bench/synth.json")
#: Test digits the system's utilization is measured on (the golden executor, which the
#: hardware's cycles equal).
SYSTEM_DIGITS = 64
#: The public int8 8x8 arrays of issue 4 (ECP5-85F, the same YoWASP flow): name ->
#: (MACs, Fmax MHz, LUT4, DSP blocks or None when not given).
PUBLIC_ARRAYS = {"public 8x8 array A": (64, 95.1, 6_500, 64),
                 "public 8x8 array B": (64, 77.6, 1_900, None)}


def _target_kinds():
    """Target name -> (top name, its parameters), for every synthesis target of the registry."""
    from tessera.sim.tops import TOPS

    return {name: (top.name, target.params) for top in TOPS.values()
            for name, target in top.synth.items()}


def _systolic_workload(params):
    from tessera.golden.config.systolic import SystolicConfig
    from tessera.golden.systolic import gemm_cycles

    fields = {k: v for k, v in params.items() if k != "dsp_macs"}
    config = SystolicConfig(**fields)
    timing = gemm_cycles(config, config.max_m, config.max_k, config.max_n)
    return (config.rows * config.cols, timing.utilization,
            f"{config.dataflow.upper()} {config.max_m}x{config.max_k}x{config.max_n}")


def _sparse_workload(params, cache):
    from tessera.golden.config.sparse import SparseConfig

    if "load_balance" not in cache:
        from tessera.sim.bench.sparse import model_study

        with contextlib.redirect_stdout(io.StringIO()):  # the study prints its own table
            cache["load_balance"] = model_study(0)["average_load_balance"]["8"]
    return (SparseConfig(**params).n_pes, cache["load_balance"],
            "EIE's nine layers, depth 8")


def _system_workload(params):
    from tessera.golden.compiler import compile_model
    from tessera.golden.data import load_digits_split
    from tessera.golden.errors import TesseraError
    from tessera.golden.executor import run_program
    from tessera.golden.pipeline import compress
    from tessera.golden.system_config import SystemConfig

    config = SystemConfig.from_dict(params)
    model = compress("cnn", 0).model
    try:
        program = compile_model(model, config)
    except TesseraError as e:
        return None, None, f"the digits CNN does not fit ({e})"
    x = model.quantize_input(load_digits_split().x_test[:SYSTEM_DIGITS])
    golden = run_program(program, x)
    macs = sum(r.macs for retired in golden.retired for r in retired)
    units = config.systolic.rows * config.systolic.cols + config.sparse.n_pes
    return units, macs / (units * sum(golden.cycles)), f"digits CNN, {len(x)} digits"


def rows(results):
    """The table's rows for ``results`` (target name -> a ``make synth`` result)."""
    kinds = _target_kinds()
    cache, out = {}, []
    for name, result in results.items():
        if name not in kinds or kinds[name][0] not in ("systolic", "sparse", "system"):
            continue
        if not result.get("fits") or not result.get("fmax_mhz"):
            print(f"   {name}: did not fit or has no Fmax; skipped", flush=True)
            continue
        top, params = kinds[name]
        if top == "systolic":
            macs, util, workload = _systolic_workload(params)
        elif top == "sparse":
            macs, util, workload = _sparse_workload(params, cache)
        else:
            macs, util, workload = _system_workload(params)
            if macs is None:
                print(f"   {name}: {workload}; skipped", flush=True)
                continue
        out.append(_row(name, macs, result["fmax_mhz"], result["luts"], result["dsps"],
                        util, workload))
    for name, (macs, mhz, luts, dsps) in PUBLIC_ARRAYS.items():
        out.append(_row(name, macs, mhz, luts, dsps, None, "peak (not measured here)"))
    return out


def _row(name, macs, mhz, luts, dsps, util, workload):
    peak = 2 * macs * mhz / 1000
    gops = peak * (1 if util is None else util)
    return {"configuration": name, "macs": macs, "fmax_mhz": mhz, "luts": luts, "dsps": dsps,
            "workload": workload, "utilization": None if util is None else round(util, 4),
            "gops": round(gops, 3), "peak_gops": round(peak, 3),
            "gops_per_dsp": round(gops / dsps, 4) if dsps else None,
            "gops_per_klut": round(gops / luts * 1000, 3)}


def _print(table):
    print(f"   {'configuration':<26} {'MACs':>4} {'Fmax':>6} {'LUT4':>7} {'DSP':>4} "
          f"{'util':>6} {'GOP/s':>7} {'peak':>7} {'/DSP':>6} {'/kLUT':>6}  workload")
    for r in table:
        util = "-" if r["utilization"] is None else f"{r['utilization']:.1%}"
        per_dsp = "-" if r["gops_per_dsp"] is None else f"{r['gops_per_dsp']:.3f}"
        dsps = "-" if r["dsps"] is None else f"{r['dsps']:,}"
        print(f"   {r['configuration']:<26} {r['macs']:>4} {r['fmax_mhz']:>6.1f} "
              f"{r['luts']:>7,} {dsps:>4} {util:>6} {r['gops']:>7.2f} {r['peak_gops']:>7.2f} "
              f"{per_dsp:>6} {r['gops_per_klut']:>6.2f}  {r['workload']}", flush=True)


def run():
    results = json.loads(SYNTH_RESULTS.read_text()) if SYNTH_RESULTS.exists() else {}
    if not results:
        print(f"   no synthesis results in {SYNTH_RESULTS}: run `make synth` (or "
              "`python -m tessera.boards.synth NAME`) first; the public arrays only", flush=True)
    table = rows(results)
    _print(table)
    return {"rows": table}
