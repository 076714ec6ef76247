"""The ``tessera`` command-line tool: a thin layer over the functions the tests use.

Bad input never ends in a traceback: :class:`golden.TesseraError` (and the ``ValueError`` /
``TypeError`` that component constructors raise for bad parameters) are printed as one line,
``tessera <command>: error: <message>``, with exit status 2. Set ``TESSERA_DEBUG=1`` to see the
traceback instead.
"""

import argparse
import importlib
import os
import sys
from importlib.metadata import PackageNotFoundError, version

# name -> module under tessera.sim.commands. The order is the order of `tessera --help`.
COMMANDS = {
    "sim": "demo",
    "verilog": "verilog",
    "compress": "compress",
    "inspect": "inspect",
    "export": "export",
    "spmv": "spmv",
    "gemm": "gemm",
}

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _version():
    try:
        return version("tessera")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def build_parser():
    parser = _Parser(
        prog="tessera",
        description="Compressed-inference accelerators: golden models, co-simulation, synthesis.",
    )
    parser.add_argument("--version", action="version", version=f"tessera {_version()}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, required=True
    )
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"tessera.sim.commands.{module_name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    from tessera.golden.errors import TesseraError

    args = build_parser().parse_args(argv)
    try:
        return args._run(args) or 0
    except BrokenPipeError:
        # The reader went away (`tessera inspect F | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (TesseraError, ValueError, TypeError, OSError) as error:
        if os.environ.get("TESSERA_DEBUG"):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"tessera {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"tessera {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
