"""Co-simulation speed on reduced workloads: simulated cycles per second of the PE, systolic and
sparse co-simulations on Verilator and Icarus, in a few minutes instead of ``make bench``'s half
hour.

The workloads take the same code paths as the ``pe``, ``systolic`` and ``sparse`` benchmarks
(:mod:`tessera.sim.cosim.pe_dot`, :mod:`tessera.sim.cosim.gemm` through ``tessera gemm``'s
:func:`~tessera.sim.systolic.gemm`, :mod:`tessera.sim.cosim.spmv` through
:func:`~tessera.sim.sparse.execute`) on smaller designs and matrices:

- ``pe``: 4,000 (Verilator) and 1,000 (Icarus) dot products of length 16;
- ``systolic``: an 8x8 weight-stationary array, a 256x64x64 GEMM (Verilator) and 16x64x64
  (Icarus), raw, checked against NumPy and the cycle model;
- ``sparse``: 8 PEs, a 128x256 layer at 10% weights and 35% activations, loaded and run once
  ("with commands": a command a cycle, Python in every cycle), then run again ``repeats`` more
  times ("computing": the clock runs free and the host sleeps), checked against the golden SpMV.

Which ones run: ``TESSERA_SPEED=pe,systolic,sparse`` (default all).
"""

import os
import time

import numpy as np

TITLE = "co-simulation speed, reduced workloads: PE, systolic, sparse on Verilator and Icarus"

SIMS = ("verilator", "icarus")
PE_DOTS = {"verilator": 4000, "icarus": 1000}
GEMM_M = {"verilator": 256, "icarus": 16}
SPARSE_REPEATS = {"verilator": 200, "icarus": 30}


def pe(sim):
    from tessera.sim.pe import pe_dot_products

    result = pe_dot_products(PE_DOTS[sim], 16, seed=0, sim=sim)
    assert result["matched"] == result["dots"], result
    return {"cycles": result["cycles"], "cycles_per_second": round(result["cycles_per_second"])}


def systolic(sim):
    from tessera.golden.config import SystolicConfig
    from tessera.golden.gemm import gemm_int8
    from tessera.golden.systolic import gemm_cycles
    from tessera.sim.systolic import gemm

    cfg = SystolicConfig(rows=8, cols=8, dataflow="ws", max_m=256, max_k=64, max_n=64)
    rng = np.random.default_rng(0)
    m = GEMM_M[sim]
    a = rng.integers(-128, 128, (m, 64), dtype=np.int8)
    b = rng.integers(-128, 128, (64, 64), dtype=np.int8)
    c, cycles, seconds = gemm(a, b, cfg, sim=sim, seed=0)
    assert np.array_equal(c, gemm_int8(a, b)), f"{sim}: the GEMM differs from NumPy"
    assert cycles == gemm_cycles(cfg, m, 64, 64, raw=True).cycles, f"{sim}: cycles {cycles}"
    return {"cycles": cycles, "cycles_per_second": round(cycles / seconds)}


def _sparse_run(design, config, matrix, x, sim, repeats):
    from tessera.golden.eie import spmv
    from tessera.sim.host.sparse import Program, stats_words
    from tessera.sim.sparse import execute

    program = Program(config)
    layer = program.load(matrix)
    program.activations(x, matrix.cols)
    program.run(layer, raw=True, emit=True)
    program.stats()
    for _ in range(repeats):
        program.run(layer, raw=True, emit=False, codebook=False)
    out, report = execute(design, program.words, matrix.rows + stats_words(config), sim=sim)
    assert np.array_equal(out[:matrix.rows], spmv(matrix, x, overflow="wrap").y), sim
    return report


def sparse(sim):
    from tessera.golden.config import SparseConfig
    from tessera.golden.eie import encode
    from tessera.sim.sparse import array_design

    rng = np.random.default_rng(1)
    rows, cols = 128, 256
    codebook = np.concatenate([[0], rng.permutation(np.arange(1, 128))[:15]
                               * rng.choice([-1, 1], 15)])
    indices = (rng.random((rows, cols)) < 0.1) * rng.integers(1, 16, (rows, cols))
    matrix = encode(indices, codebook, n_pes=8, rel_bits=4, index_bits=4)
    x = rng.integers(1, 128, cols).astype(np.int8) * rng.choice(np.array([-1, 1], np.int8), cols)
    x[rng.random(cols) >= 0.35] = 0
    design = array_design([matrix], n_pes=8, fifo_depth=8)
    config = SparseConfig(**design.params)
    base = _sparse_run(design, config, matrix, x, sim, 0)
    more = _sparse_run(design, config, matrix, x, sim, SPARSE_REPEATS[sim])
    free = (more["cycles"] - base["cycles"]) / max(more["seconds"] - base["seconds"], 1e-9)
    return {"cycles": base["cycles"], "with_commands": round(base["cycles"] / base["seconds"]),
            "computing": round(free)}


def run():
    chosen = os.environ.get("TESSERA_SPEED", "pe,systolic,sparse").split(",")
    figures = {}
    for name in chosen:
        for sim in SIMS:
            start = time.perf_counter()
            result = globals()[name](sim)
            figures[f"{name}/{sim}"] = result
            rates = ", ".join(f"{k} {v:,}" for k, v in result.items())
            print(f"   {name:<8} {sim:<9} {rates}  ({time.perf_counter() - start:.0f} s)",
                  flush=True)
    return figures
