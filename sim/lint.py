"""Lint generated Verilog: Verilator ``--lint-only -Wall`` and an Icarus parse.

``python -m tessera.sim.lint DIR_OR_FILES...`` (``make lint`` runs it on ``build/verilog``). Every
warning fails the lint except the classes below, which Amaranth's Verilog backend produces by
design (checked on its output; each is explained):

- ``WIDTHEXPAND`` / ``WIDTHTRUNC``: Amaranth emits operands at their natural widths and lets
  Verilog's sizing rules extend or truncate them; the arithmetic is Amaranth's, exact by
  construction.
- ``PROCASSINIT``: every register gets its reset value as an initial value in its declaration
  (the FPGA power-up state) and is also assigned in an ``always`` block.
- ``UNUSEDSIGNAL`` / ``UNUSEDPARAM``: intermediate wires wider than their use (a discarded carry
  bit) and values kept for debugging.
- ``DECLFILENAME``: ``make verilog`` names modules ``tessera_<top>`` in ``<top>.v``.
- ``CASEINCOMPLETE``: a ``with m.Switch`` becomes, for each signal it drives, a ``casez``
  holding only the cases that assign that signal, after an assignment of the signal's default
  value, so the cases left out keep the default by construction (the system's command
  processor and header check switch on opcodes and memory spaces).
"""

import subprocess
import sys
from pathlib import Path

from . import toolchain

WAIVED = ("WIDTHEXPAND", "WIDTHTRUNC", "PROCASSINIT", "UNUSEDSIGNAL", "UNUSEDPARAM",
          "DECLFILENAME", "CASEINCOMPLETE")


def lint(path):
    """Return a list of problems (strings) found in the Verilog file ``path``; empty if clean."""
    toolchain.configure_environment()
    path = Path(path)
    problems = []
    command = ["verilator", "--lint-only", "-Wall", *(f"-Wno-{w}" for w in WAIVED), str(path)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        problems += [line for line in result.stderr.splitlines() if line.startswith("%")]
        problems = problems or [f"verilator exited with {result.returncode}"]
    result = subprocess.run(["iverilog", "-g2012", "-o", "/dev/null", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        problems += [f"iverilog: {line}" for line in result.stderr.splitlines()] or [
            f"iverilog exited with {result.returncode}"]
    return problems


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    files = []
    for arg in args or ["build/verilog"]:
        path = Path(arg)
        files += sorted(path.glob("*.v")) if path.is_dir() else [path]
    if not files:
        print("tessera.sim.lint: error: no Verilog files (run make verilog first)", file=sys.stderr)
        return 2
    failed = 0
    for path in files:
        problems = lint(path)
        print(f"{'ok  ' if not problems else 'FAIL'} {path}")
        for problem in problems:
            print(f"     {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
