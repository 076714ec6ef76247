"""``tessera board``: list the boards, build and flash their bitstreams, simulate one behind a
pseudo-terminal, run the compressed MLP on one over a serial port.

- ``tessera board list``: every board, its clock, baud and core configuration.
- ``tessera board build NAME [-o DIR]``: the bitstream on the YoWASP tools, with its Fmax and
  resources (default folder ``build/boards/NAME``).
- ``tessera board flash NAME [-d DIR]``: program the board with openFPGALoader.
- ``tessera board sim NAME``: the board on Verilator behind a pseudo-terminal; prints its path
  and serves until Ctrl-C.
- ``tessera board run NAME --port PORT``: the compressed MLP on the board at ``PORT`` (a real
  board's serial port or a simulated board's pty), checked against golden (on the sparse core,
  its host program; on the system core, ``tessera run``'s runtime).

The library is :mod:`tessera.boards` (registry, build, sim, run).
"""

HELP = "FPGA boards: list, build, flash, simulate behind a pty, run the MLP over a serial port"


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser),
                                required=True)
    sub.add_parser("list", help="the boards and their configurations").add_argument(
        "--json", action="store_true", help="print one JSON object")
    build = sub.add_parser("build", help="build a board's bitstream (YoWASP tools)")
    build.add_argument("name", metavar="NAME")
    build.add_argument("-o", "--output", metavar="DIR",
                       help="the build folder (default build/boards/NAME)")
    build.add_argument("--json", action="store_true", help="print one JSON object")
    flash = sub.add_parser("flash", help="program a board with openFPGALoader")
    flash.add_argument("name", metavar="NAME")
    flash.add_argument("-d", "--dir", metavar="DIR",
                       help="the build folder (default build/boards/NAME)")
    sim = sub.add_parser("sim", help="simulate a board behind a pseudo-terminal (Verilator)")
    sim.add_argument("name", metavar="NAME")
    sim.add_argument("--seconds", type=float, default=3600.0,
                     help="stop after this many seconds (default 3600)")
    run = sub.add_parser("run", help="run the compressed MLP on a board over a serial port")
    run.add_argument("name", metavar="NAME")
    run.add_argument("--port", required=True, help="the serial port (or a simulated board's pty)")
    run.add_argument("--samples", type=int, default=4, help="test digits (default 4)")
    run.add_argument("--seed", type=int, default=0, help="model and digit seed (default 0)")
    run.add_argument("--simulated", action="store_true",
                     help="the port is a simulated board: patient timeouts")
    run.add_argument("--json", action="store_true", help="print one JSON object")


def _list(args):
    import json

    from tessera.boards.registry import BOARDS

    rows = [{"name": b.name, "board": b.description, "clock_mhz": b.clock_hz / 1e6,
             "baud": b.baud, "divisor": b.divisor, "core": b.core.describe(), "link": b.link}
            for b in BOARDS.values()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(f"{r['name']:<11} {r['clock_mhz']:>5g} MHz {r['baud']:>9,} baud  {r['core']}")
        print(f"{'':<11} {r['board']}")
    return 0


def _build(args):
    import json

    from tessera.boards.build import build

    result = build(args.name, args.output)
    summary = {"board": result.board, "bitstream": str(result.bitstream),
               "fmax_mhz": result.fmax_mhz, "clock_mhz": result.clock_mhz,
               "resources": result.resources, "seconds": round(result.seconds, 1)}
    if args.json:
        print(json.dumps(summary))
        return 0
    used = ", ".join(f"{cell} {n}/{total}" for cell, (n, total) in result.resources.items() if n)
    print(f"{result.bitstream}: Fmax {result.fmax_mhz:.1f} MHz (clock {result.clock_mhz:g} MHz); "
          f"{used}; {result.seconds:.0f} s")
    return 0


def _flash(args):
    from tessera.boards.build import flash

    flash(args.name, args.dir)
    print(f"flashed {args.name}")
    return 0


def _sim(args):
    from tessera.boards.sim import SimulatedBoard

    with SimulatedBoard(args.name, max_seconds=args.seconds) as board:
        print(f"simulated {args.name} at {board.path} ({board.board.baud:,} baud); Ctrl-C stops "
              f"it", flush=True)
        board.wait()
    return 0


def _run(args):
    import json

    from tessera.boards.registry import board
    from tessera.boards.run import run_mlp, run_system
    from tessera.boards.sim import HOST_TIMEOUTS
    from tessera.golden.errors import check_int
    from tessera.sim.serial import SerialTransport

    spec = board(args.name)
    check_int(args.samples, "--samples", 1, 1000)
    with SerialTransport(args.port, spec.baud) as transport:
        runner = run_system if spec.core.system else run_mlp
        result = runner(transport, args.name, samples=args.samples, seed=args.seed,
                        host_timeouts=HOST_TIMEOUTS if args.simulated else None)
    if args.json:
        print(json.dumps(result, default=int))
    else:
        counted = args.samples if spec.core.system else 3 * args.samples
        print(f"{args.name}: logits match golden {result['logits_match']}/{args.samples}, "
              f"counters {result['counters_match']}/{counted}; load "
              f"{result['load_bytes']:,} bytes in {result['load_seconds']:.2f} s; "
              f"{result['cycles_per_inference']:,.0f} cycles per inference "
              f"({result['latency_us']:.0f} us at the board's clock)")
    return 0 if result["matches_golden"] else 1


def run(args):
    return {"list": _list, "build": _build, "flash": _flash, "sim": _sim, "run": _run}[
        args.action](args)
