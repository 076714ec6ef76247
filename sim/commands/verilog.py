"""``tessera verilog TOP -o FILE``: write the Verilog of a hardware top.

Each top registers its options here: a help line, ``add_arguments(parser)`` and
``design(args) -> sim.runner.Design``. ``tessera verilog all -o DIR`` writes every top with its
default parameters (what ``make verilog`` runs).
"""

from pathlib import Path

HELP = "write the Verilog of a hardware top (or of all of them)"


def _pe_arguments(parser):
    parser.add_argument("--acc-width", type=int, default=32, metavar="BITS",
                        help="accumulator width, 16..64 (default 32)")


def _pe_design(args):
    from hw.pe import MACPE
    from sim.runner import Design

    return Design(MACPE, acc_width=args.acc_width)


def _postproc_design(args):
    from hw.postproc import PostProcessor
    from sim.runner import Design

    return Design(PostProcessor, acc_width=args.acc_width)


# name -> (help, add_arguments, design)
TOPS = {
    "pe": ("the int8 multiply-accumulate processing element", _pe_arguments, _pe_design),
    "postproc": ("the post-processing unit: bias, requantize, ReLU, saturate",
                 _pe_arguments, _postproc_design),
}


def add_arguments(parser):
    tops = parser.add_subparsers(dest="top", metavar="TOP", required=True,
                                 parser_class=type(parser))
    every = tops.add_parser("all", help="every top with its default parameters")
    every.add_argument("-o", "--output", required=True, metavar="DIR",
                       help="folder for <top>.v files")
    for name, (help_text, add_top_arguments, _) in TOPS.items():
        sub = tops.add_parser(name, help=help_text, description=help_text)
        add_top_arguments(sub)
        sub.add_argument("-o", "--output", required=True, metavar="FILE",
                         help="Verilog file to write")
        sub.add_argument("--name", default=None,
                         help=f"Verilog module name (default tessera_{name})")


def write(name, design, path, module=None):
    """Write the Verilog of ``design`` to ``path`` with module name ``module``."""
    from sim.runner import convert

    text = convert(design.create(), name=module or f"tessera_{name}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run(args):
    if args.top == "all":
        for name, (_, add_top_arguments, design) in TOPS.items():
            import argparse

            defaults = argparse.ArgumentParser()
            add_top_arguments(defaults)
            path = write(name, design(defaults.parse_args([])), Path(args.output) / f"{name}.v")
            print(f"wrote {path}")
        return 0
    path = write(args.top, TOPS[args.top][2](args), args.output, args.name)
    print(f"wrote {path}")
    return 0
