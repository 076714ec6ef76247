"""The ``tessera`` command-line tool: a thin layer over the functions the tests use.

Nothing a user types or feeds in ends in a traceback:

- bad input (:class:`tessera.golden.errors.TesseraError`, and the ``ValueError`` / ``TypeError``
  that component constructors raise for bad parameters, and ``OSError``) is printed as one line,
  ``tessera <command>: error: <message>``, with exit status 2;
- a failed or crashed simulation (:class:`tessera.sim.runner.SimulationFailed`) is printed as the
  first line of its message, exit status 1;
- running out of memory, exit status 2; Ctrl-C at any moment (also while the parser is built),
  ``tessera: interrupted``, exit status 130;
- anything else is a bug in tessera: one line naming it, exit status 3.

Set ``TESSERA_DEBUG=1`` to see the traceback instead. Building the parser imports no Amaranth,
NumPy or cocotb, so ``tessera --help`` is fast.
"""

import os
import signal
import sys


def _interrupted_while_starting(signum, frame):
    """Ctrl-C before :func:`main` runs (while Python imports the tool): quiet, status 130."""
    os.write(2, b"tessera: interrupted\n")
    os._exit(130)


_interrupted = False


def _on_interrupt(signum, frame):
    """Ctrl-C once main() runs: KeyboardInterrupt, remembered (a library may turn it into an
    ImportError or another exception on its way up, which then still counts as Ctrl-C)."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


#: Running as the `tessera` program (not imported by a library user or a test).
_AS_PROGRAM = (__name__ == "__main__"
               or os.path.basename(sys.argv[0] if sys.argv else "") == "tessera")

# As the program, Ctrl-C is quiet from this line on; main() puts Python's KeyboardInterrupt back
# once its handlers are in place.
if _AS_PROGRAM:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import argparse  # noqa: E402 - after the handler: imports are where Ctrl-C lands early
import importlib  # noqa: E402

# name -> module under tessera.sim.commands. The order is the order of `tessera --help`.
COMMANDS = {
    "sim": "demo",
    "verilog": "verilog",
    "compress": "compress",
    "inspect": "inspect",
    "export": "export",
    "spmv": "spmv",
    "gemm": "gemm",
    "run": "run",
    "cache": "cache",
    "board": "board",
}

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


class _Version(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata is slow to import)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"tessera {_version()}")
        parser.exit()


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tessera")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def build_parser():
    parser = _Parser(
        prog="tessera",
        description="Compressed-inference accelerators: golden models, co-simulation, synthesis.",
    )
    parser.add_argument("--version", action=_Version)
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, required=True
    )
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"tessera.sim.commands.{module_name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def main(argv=None):
    try:
        status = _main(argv)
    except KeyboardInterrupt:       # a second Ctrl-C while the first one was being reported
        status = EXIT_INTERRUPTED
    if _interrupted:
        status = EXIT_INTERRUPTED
    if status == EXIT_INTERRUPTED and _AS_PROGRAM:
        # The decision is made and reported. Leave now: a second Ctrl-C during shutdown, or the
        # interpreter's own "a KeyboardInterrupt went unhandled somewhere" flag (C code that
        # runs Python through PyRun_String sets it even when the exception is caught later),
        # would otherwise turn exit status 130 into a death by SIGINT.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(EXIT_INTERRUPTED)
    return status


def _fail(command, message, status):
    if _interrupted:
        message, status = "interrupted", EXIT_INTERRUPTED
    print(f"tessera {command}: {message}" if command else f"tessera: {message}", file=sys.stderr)
    return status


def _main(argv):
    command = None
    debug = os.environ.get("TESSERA_DEBUG", "0") not in ("", "0")
    try:
        if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
            signal.signal(signal.SIGINT, _on_interrupt)
        args = build_parser().parse_args(argv)
        command = args.command
        from tessera.golden.errors import TesseraError
        from tessera.sim.runner import SimulationFailed

        try:
            return args._run(args) or 0
        except BrokenPipeError:
            # The reader went away (`tessera inspect F | head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except SimulationFailed as error:
            if debug:
                raise
            return _fail(command, f"error: {_first_line(error)}", EXIT_FAILED)
        except (TesseraError, ValueError, TypeError, OSError) as error:
            if debug:
                raise
            return _fail(command, f"error: {_first_line(error)}", EXIT_BAD_INPUT)
        except MemoryError:
            if debug:
                raise
            return _fail(command, "error: out of memory", EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        if debug:
            raise
        return _fail(command, "interrupted", EXIT_INTERRUPTED)
    except Exception as error:
        if debug:
            raise
        return _fail(command, f"internal error: {type(error).__name__}: {_first_line(error)} "
                              f"(a bug in tessera; TESSERA_DEBUG=1 shows the traceback)",
                     EXIT_BUG)


if __name__ == "__main__":
    sys.exit(main())
