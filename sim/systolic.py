"""The systolic GEMM engine on the simulator: size a design, run GEMMs, check against golden.

The library behind ``tessera gemm`` (:func:`configure`, :func:`gemm`), the demo's GEMM section
(:func:`demo_section`) and the systolic benchmark: :func:`run_gemms` runs several GEMMs in one
simulation (:mod:`tessera.sim.cosim.gemm`, which packs their words with the host encoder
:mod:`tessera.sim.host.systolic`).
"""

import numpy as np
from tessera.golden.config.systolic import SystolicConfig, min_acc_width
from tessera.golden.errors import TesseraError

__all__ = ["DEFAULT_DESIGNS", "configure", "demo_section", "design_params", "gemm", "run_gemms"]

#: The default 8x8 design, spelled as the tests spell it so that they share one build.
DEFAULT_DESIGNS = {"ws": dict(rows=8, cols=8, dataflow="ws"),
                   "os": dict(rows=8, cols=8, dataflow="os")}


def configure(m, k, n, *, rows=SystolicConfig.rows, cols=SystolicConfig.cols,
              dataflow=SystolicConfig.dataflow, acc_width=SystolicConfig.acc_width,
              acc_depth=None, max_m=None, max_k=None, max_n=None, lanes=None):
    """Return the :class:`~tessera.golden.config.SystolicConfig` for an M x K x N GEMM, checked.

    Buffers are sized to the problem unless ``max_m``/``max_k``/``max_n`` are given; a GEMM
    larger than fixed buffers, or a K the accumulator cannot hold, raises TesseraError.
    """
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
                            acc_depth=acc_depth, lanes=lanes, **limits)
    config.check(m, k, n)
    return config


def design_params(config):
    """The SystolicGemm parameters of ``config``, spelled like the tests' default designs."""
    params = config.params()
    for default in DEFAULT_DESIGNS.values():
        if SystolicConfig(**default) == config:
            return dict(default)
    if params["acc_depth"] is None:
        del params["acc_depth"]
    if params["lanes"] == params["cols"]:
        del params["lanes"]                 # the default: one build with the tests' designs
    return params


def run_gemms(config, jobs, inputs, *, sim="verilator", seed=0, patterns=None):
    """Run GEMMs on the engine in one simulation (:mod:`tessera.sim.cosim.gemm`).

    ``jobs`` are dicts as :mod:`tessera.sim.cosim.gemm` documents, ``inputs`` the arrays they name.
    Returns the :class:`tessera.sim.runner.SimResult` (outputs ``c0``, ``c1``...; report ``cycles``,
    ``simulated``, ``seconds``).
    """
    from tessera.hw.systolic import SystolicGemm
    from tessera.sim.runner import Design, simulate

    params = {"config": config.params(), "jobs": jobs}
    if patterns:
        params["patterns"] = patterns
    return simulate(Design(SystolicGemm, **design_params(config)), "tessera.sim.cosim.gemm",
                    sim=sim, params=params, inputs=inputs, seed=seed)


def gemm(a, b, config, *, sim="verilator", seed=0):
    """Return (C, cycles, seconds) for ``a @ b`` (raw int32) on the simulated engine."""
    result = run_gemms(config, [{"a": "a", "b": "b", "raw": True}], {"a": a, "b": b}, sim=sim,
                       seed=seed)
    return result.outputs["c0"], result.report["cycles"][0], result.report["seconds"]


def demo_section(seed: int, sim: str, shared=None) -> tuple[list[str], bool]:
    """Co-simulate a random raw GEMM on the default 8x8 array, as ``tessera gemm`` runs it.

    What the system section does not show: the engine alone, fed by the host, returning raw
    int32 accumulators (the system requantizes every result), on one of issue 10's SCALE-Sim
    workloads (48x40 @ 40x36), against :func:`tessera.golden.gemm.gemm_int8` and its cycle
    count against :func:`tessera.golden.systolic.gemm_cycles` (``shared`` is not used).
    Returns the lines to print and whether everything matched.
    """
    from tessera.golden.gemm import gemm_int8
    from tessera.golden.scalesim import scalesim_cycles
    from tessera.golden.systolic import gemm_cycles

    config = SystolicConfig(**DEFAULT_DESIGNS["ws"])
    rng = np.random.default_rng(seed)
    m, k, n = 48, 40, 36
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    result = run_gemms(config, [{"a": "a", "b": "b", "raw": True}], {"a": a, "b": b}, sim=sim,
                       seed=seed)
    cycles = result.report["cycles"][0]
    got, want = result.outputs["c0"], gemm_int8(a, b)
    model = gemm_cycles(config, m, k, n, raw=True)
    theirs = scalesim_cycles(m, k, n, rows=config.rows, cols=config.cols, dataflow="ws")
    matched = int((got == want).sum())
    rate = result.report["simulated"] / result.report["seconds"]
    lines = [
        f"[GEMM] the systolic engine alone (tessera gemm): C = A @ B, {m}x{k} @ {k}x{n} int8, "
        f"raw int32 results, 8x8 weight-stationary ({sim})",
        f"     matched NumPy: {matched}/{want.size}; {cycles:,} cycles (golden model "
        f"{model.cycles:,}; SCALE-Sim 3.0 {theirs:,}), {100 * model.macs / (64 * cycles):.1f}% "
        f"of the MACs busy",
        f"     {result.report['simulated']:,} cycles simulated, {rate:,.0f} simulated cycles/s",
    ]
    return lines, matched == want.size and cycles == model.cycles
