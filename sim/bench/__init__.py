"""Benchmarks: ``make bench`` (``python -m tessera.sim.bench [NAME ...]``).

A benchmark is a module in this package, listed in :data:`BENCHMARKS`, that defines

- ``TITLE``: one line saying what it measures;
- ``run() -> dict``: does the work, prints its figures as it goes, and returns them as a
  JSON-serialisable dict.

The driver writes each result to ``build/bench/<name>.json`` (with the time it took and the
machine it ran on) and prints a summary. Benchmarks measure; tests assert behaviour, not timings.
"""

# name -> module under tessera.sim.bench, in the order `make bench` runs them.
BENCHMARKS = {
    "pe": "pe",
    "spmv_golden": "spmv_golden",
    "sparse": "sparse",
    "systolic": "systolic",
    "cosim_speed": "cosim_speed",
}
