"""Benchmarks: ``make bench`` (``python -m tessera.sim.bench [NAME ...]``).

A benchmark is a module in this package that defines

- ``TITLE``: one line saying what it measures;
- ``run() -> dict``: does the work, prints its figures as it goes, and returns them as a
  JSON-serialisable dict.

Which benchmarks exist, and their order, is the registry's: each top's ``benchmarks``
(:data:`tessera.sim.tops.TOPS`). The driver writes each result to ``build/bench/<name>.json``
(with the time it took and the machine it ran on) and prints a summary. Benchmarks measure;
tests assert behaviour, not timings.
"""

from tessera.sim.tops import TOPS

#: Benchmarks of no single top (the co-simulation speed of several, throughput per
#: configuration, the boards' host link), run after the tops' own.
ACROSS_TOPS = ("cosim_speed", "throughput", "link")

# name -> module under tessera.sim.bench, in the order `make bench` runs them.
BENCHMARKS = {name: name for top in TOPS.values() for name in top.benchmarks}
BENCHMARKS.update({name: name for name in ACROSS_TOPS})
