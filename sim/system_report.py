"""The report of a model run on the system: per layer engine, cycles, utilization, energy.

:func:`summarize` turns a :class:`tessera.sim.system.SystemRun` (whatever transport carried it:
co-simulation, or a serial port to a board) into one JSON-ready dict, and :func:`format_summary`
into the lines ``tessera run`` prints. Per layer (the instructions the compiler made for it,
:class:`tessera.golden.compiler.LayerPlan`):

- ``cycles``: the hardware's, from its STATS log, averaged over the inputs (``None`` past
  ``stats_depth`` logged instructions);
- ``utilization``: the golden executor's figures (golden is the contract, and the hardware's
  cycles equal them when ``cycles_match``): the MACs the engine did
  (:attr:`tessera.golden.executor.Retired.macs`) over its MACs times the layer's cycles, summed
  over the inputs. The systolic engine has ``R * C`` MACs and does ``M * K * N`` of them per
  CONV; the sparse array has one per PE and does one per entry it issues (padding included, as
  EIE counts). A layer's cycles include its headers (its codebook is loaded with the model).
  The pool unit has no MAC: ``None``;
- ``energy`` (pJ): :func:`tessera.golden.energy.compressed_int8_layer_energy` per inference
  (45 nm figures), averaged over the inputs;
- ``latency_us``: its cycles at the clock :func:`clock` gives.
"""

import numpy as np

__all__ = ["SYNTHESIZED_FMAX_MHZ", "clock", "format_summary", "summarize"]

#: Fmax nextpnr reached for the registry's system targets (``make synth``, seed 1;
#: ``docs/system.md``), in MHz, by target name.
SYNTHESIZED_FMAX_MHZ = {"system-8x8-ecp5": 40.5}
#: The target whose requested clock is used for a configuration that no synthesis figure
#: covers.
FALLBACK_TARGET = "system-8x8-ecp5"


def clock(config):
    """Return ``(mhz, source)``: the clock latencies are given at for ``config``.

    The synthesized Fmax of the registry's system target whose configuration equals ``config``
    (:data:`SYNTHESIZED_FMAX_MHZ`); else the clock requested of :data:`FALLBACK_TARGET`, and
    ``source`` says so.
    """
    from tessera.golden.system_config import SystemConfig
    from tessera.sim.tops import TOPS

    targets = TOPS["system"].synth
    for name, target in targets.items():
        params = {k: v for k, v in target.params.items() if k != "dsp_macs"}
        if name in SYNTHESIZED_FMAX_MHZ and SystemConfig.from_dict(params) == config:
            return (SYNTHESIZED_FMAX_MHZ[name],
                    f"the synthesized Fmax of {name} ({target.device})")
    fallback = targets[FALLBACK_TARGET]
    return (float(fallback.freq_mhz),
            f"no synthesis figure for this configuration: the {fallback.freq_mhz:g} MHz "
            f"requested of {FALLBACK_TARGET} ({fallback.device})")


def _engine_macs(engine, config):
    if engine == "systolic":
        return config.systolic.rows * config.systolic.cols
    if engine == "sparse":
        return config.sparse.n_pes
    return None


def summarize(program, model, x_q, run, *, labels=None, board_clock=None):
    """Return the report of ``run`` (:func:`tessera.sim.system.run_model`'s result for
    ``program``, compiled from ``model``, on the inputs ``x_q``) as a JSON-ready dict.

    Keys: ``model``, ``inputs``, ``predictions``, ``matches_golden``, ``cycles_match``,
    ``cycles`` (per inference), ``errors``, ``clock_mhz``, ``clock`` (where that clock comes
    from), ``latency_us`` (per inference), ``layers`` (``name``, ``kind``, ``engine``,
    ``cycles``, ``macs``, ``utilization``, ``energy`` in pJ, ``latency_us``), ``energy`` (pJ per
    inference, the layers' sum) and, with ``labels``, ``accuracy``. Latencies are at
    ``board_clock`` (``(MHz, source)``) or, without it, at :func:`clock` of the configuration.
    """
    from tessera.golden.energy import compressed_int8_layer_energy

    x = np.asarray(x_q)
    config = program.config
    golden = run.golden
    mhz, source = clock(config) if board_clock is None else board_clock
    energies = compressed_int8_layer_energy(model, x)
    logged = min((len(log) for log in run.instruction_cycles), default=0)
    layers = []
    for plan, energy in zip(program.layers, energies):
        # An inference's instructions: the input LOAD, the body, READ, BARRIER, STATS.
        indices = [1 + i for i in plan.instructions]
        cycles = None
        if all(i < logged for i in indices):
            cycles = float(np.mean([sum(log[i] for i in indices)
                                    for log in run.instruction_cycles]))
        retired = [inference[i] for inference in golden.retired for i in indices]
        macs = sum(r.macs for r in retired)
        array = _engine_macs(plan.engine, config)
        utilization = None
        if array is not None:
            utilization = macs / (array * sum(r.cycles for r in retired))
        layers.append({
            "name": plan.name, "kind": plan.kind, "engine": plan.engine, "cycles": cycles,
            "macs": macs / len(x), "utilization": utilization,
            "energy": float(sum(energy.values())),
            "latency_us": None if cycles is None else cycles / mhz})
    summary = {
        "model": model.name, "inputs": len(x), "predictions": run.predictions,
        "matches_golden": run.matches_golden, "cycles_match": run.cycles_match,
        "cycles": run.cycles, "errors": run.errors, "clock_mhz": mhz, "clock": source,
        "latency_us": [c / mhz for c in run.cycles], "layers": layers,
        "energy": float(sum(layer["energy"] for layer in layers)),
    }
    if labels is not None:
        summary["accuracy"] = float(np.mean(np.asarray(run.predictions) == np.asarray(labels)))
    return summary


def _figure(value, spec, unit=""):
    return "-" if value is None else f"{value:{spec}}{unit}"


def format_summary(summary, where):
    """Return the lines ``tessera run`` prints for ``summary`` (:func:`summarize`); ``where``
    names the system (e.g. ``"verilator"``, or a serial port)."""
    cycles = summary["cycles"]
    lines = [f"{summary['model']} on the system ({where}): {summary['inputs']} inputs, "
             f"predictions {summary['predictions']}"]
    if "accuracy" in summary:
        lines.append(f"accuracy {summary['accuracy']:.2%}")
    lines += [
        f"cycles per inference: mean {np.mean(cycles):,.0f} (min {min(cycles):,}, max "
        f"{max(cycles):,}); latency {np.mean(summary['latency_us']):,.2f} us at "
        f"{summary['clock_mhz']:g} MHz ({summary['clock']})",
        f"  {'layer':<12} {'kind':<8} {'engine':<9} {'cycles':>8} {'util':>7} "
        f"{'energy nJ':>10} {'us':>8}"]
    for layer in summary["layers"]:
        share = layer["utilization"]
        lines.append(
            f"  {layer['name']:<12} {layer['kind']:<8} {layer['engine']:<9} "
            f"{_figure(layer['cycles'], ',.0f'):>8} "
            f"{_figure(None if share is None else 100 * share, '.1f', '%'):>7} "
            f"{layer['energy'] / 1000:>10.2f} {_figure(layer['latency_us'], '.2f'):>8}")
    lines += [
        f"energy per inference {summary['energy'] / 1000:,.2f} nJ (45 nm figures, "
        f"golden/energy.py)",
        f"logits bit-exact against golden: {summary['matches_golden']}; cycles equal to the "
        f"executor: {summary['cycles_match']}; errors: {summary['errors']}"]
    return lines
