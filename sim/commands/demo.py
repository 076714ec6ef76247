"""``tessera sim``: the main job (``make sim``), a co-simulation demo against the golden models."""

HELP = "run the co-simulation demo against the golden models (what `make sim` runs)"


def add_arguments(parser):
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                        help="simulator (default: verilator)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def run(args):
    from tessera.sim.demo import run_demo

    return 0 if not run_demo(args.seed, args.sim) else 1
