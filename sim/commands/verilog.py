"""``tessera verilog TOP -o FILE``: write the Verilog of a hardware top.

The tops, their options and defaults are the registry's (:data:`tessera.sim.tops.TOPS`).
``tessera verilog all -o DIR`` writes every top with its default parameters (what ``make
verilog`` runs).
"""

from pathlib import Path

HELP = "write the Verilog of a hardware top (or of all of them)"


def add_arguments(parser):
    from tessera.sim.tops import TOPS

    tops = parser.add_subparsers(dest="top", metavar="TOP", required=True,
                                 parser_class=type(parser))
    every = tops.add_parser("all", help="every top with its default parameters")
    every.add_argument("-o", "--output", required=True, metavar="DIR",
                       help="folder for <top>.v files")
    for name, top in TOPS.items():
        sub = tops.add_parser(name, help=top.help, description=top.help)
        top.add_arguments(sub)
        sub.add_argument("-o", "--output", required=True, metavar="FILE",
                         help="Verilog file to write")
        sub.add_argument("--name", default=None,
                         help=f"Verilog module name (default tessera_{name})")


def design(name, **params):
    """Return the :class:`tessera.sim.runner.Design` of top ``name``, its configuration checked.

    ``params`` override the registry's defaults.
    """
    from tessera.sim.tops import TOPS

    top = TOPS[name]
    top.configuration(**params)  # validates the engine's parameters with its own messages
    return top.design(**params)


def write(name, design, path, module=None):
    """Write the Verilog of ``design`` to ``path`` with module name ``module``."""
    from tessera.sim.files import write_text
    from tessera.sim.runner import convert

    text = convert(design.create(), name=module or f"tessera_{name}")
    return write_text(path, text)


def run(args):
    from tessera.sim.files import output_folder, output_path
    from tessera.sim.tops import TOPS

    if args.top == "all":
        output_folder(args.output)
        for name in TOPS:
            path = write(name, design(name), Path(args.output) / f"{name}.v")
            print(f"wrote {path}")
        return 0
    output_path(args.output)
    path = write(args.top, design(args.top, **TOPS[args.top].params(args)), args.output,
                 args.name)
    print(f"wrote {path}")
    return 0
