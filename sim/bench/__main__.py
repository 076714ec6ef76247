"""Run the benchmarks named on the command line (all of them by default)."""

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from . import BENCHMARKS

OUT_DIR = Path("build/bench")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tessera.sim.bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.exit(2, f"{parser.prog}: error: unknown benchmark {unknown[0]!r}; "
                       f"choose from {', '.join(BENCHMARKS)}\n")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in args.names or BENCHMARKS:
        module = importlib.import_module(f"tessera.sim.bench.{BENCHMARKS[name]}")
        print(f"== {name}: {module.TITLE}", flush=True)
        start = time.perf_counter()
        figures = module.run()
        elapsed = time.perf_counter() - start
        record = {
            "benchmark": name,
            "title": module.TITLE,
            "figures": figures,
            "seconds": round(elapsed, 2),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "platform": platform.platform()},
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        path = OUT_DIR / f"{name}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"   ({elapsed:.1f} s) -> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
