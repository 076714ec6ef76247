"""``tessera verilog TOP -o FILE``: write the Verilog of a hardware top.

Each top registers its options here: a help line, ``add_arguments(parser)`` and
``design(args) -> tessera.sim.runner.Design``. ``tessera verilog all -o DIR`` writes every top with
its
default parameters (what ``make verilog`` runs).
"""

from pathlib import Path

HELP = "write the Verilog of a hardware top (or of all of them)"


def _pe_arguments(parser):
    parser.add_argument("--acc-width", type=int, default=32, metavar="BITS",
                        help="accumulator width, 16..64 (default 32)")


def _pe_design(args):
    from tessera.hw.pe import MACPE
    from tessera.sim.runner import Design

    return Design(MACPE, acc_width=args.acc_width)


def _postproc_design(args):
    from tessera.hw.postproc import PostProcessor
    from tessera.sim.runner import Design

    return Design(PostProcessor, acc_width=args.acc_width)


def _sparse_arguments(parser):
    # No Amaranth here: building the parser must stay fast (the defaults are SparseConfig's,
    # filled in by _sparse_design).
    for name, help_text in (
            ("n_pes", "number of PEs, 1..64"),
            ("fifo_depth", "activation queue depth, 1..64"),
            ("index_bits", "codebook index width, 1..8"),
            ("rel_bits", "relative row index width, 1..8"),
            ("weight_width", "codebook value width, 2..16"),
            ("entries_per_word", "entries per matrix-memory word, a power of two up to 16"),
            ("ptr_bits", "column pointer width, 8..20"),
            ("spmat_depth", "matrix-memory words per PE"),
            ("ptr_depth", "column pointers per PE"),
            ("act_depth", "activations per PE in each buffer (and accumulators)"),
            ("param_depth", "requantization parameter rows per PE")):
        flag = "--pes" if name == "n_pes" else "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, type=int, default=None, metavar="N",
                            help=f"{help_text} (default: SparseConfig's)")


def _sparse_design(args):
    from tessera.hw.sparse import SparseArray, SparseConfig
    from tessera.sim.runner import Design

    defaults = SparseConfig()
    config = SparseConfig(**{name: getattr(defaults, name) if getattr(args, name, None) is None
                             else getattr(args, name) for name in defaults.params()})
    return Design(SparseArray, **config.params())


def _systolic_arguments(parser):
    parser.add_argument("--rows", type=int, default=8, help="array rows, 1..32 (default 8)")
    parser.add_argument("--cols", type=int, default=8, help="array columns, 1..32 (default 8)")
    parser.add_argument("--dataflow", choices=("ws", "os"), default="ws",
                        help="weight-stationary (default) or output-stationary")
    parser.add_argument("--acc-width", type=int, default=32, metavar="BITS",
                        help="accumulator width, 16..32 (default 32)")
    for dim in ("m", "k", "n"):
        parser.add_argument(f"--max-{dim}", type=int, default=64, metavar=dim.upper(),
                            help=f"largest {dim.upper()} the buffers hold (default 64)")
    parser.add_argument("--acc-depth", type=int, default=None, metavar="ROWS",
                        help="WS M-tile: rows per accumulator-bank half (default min(max-m, 64))")
    parser.add_argument("--dsp-macs", type=int, default=None, metavar="N",
                        help="PEs that multiply in DSP blocks, the rest in LUTs (default all)")


def _systolic_design(args):
    from tessera.hw.systolic import SystolicGemm
    from tessera.sim.runner import Design

    return Design(SystolicGemm, rows=args.rows, cols=args.cols, dataflow=args.dataflow,
                  acc_width=args.acc_width, max_m=args.max_m, max_k=args.max_k,
                  max_n=args.max_n, acc_depth=args.acc_depth, dsp_macs=args.dsp_macs)


# name -> (help, add_arguments, design)
TOPS = {
    "pe": ("the int8 multiply-accumulate processing element", _pe_arguments, _pe_design),
    "postproc": ("the post-processing unit: bias, requantize, ReLU, saturate",
                 _pe_arguments, _postproc_design),
    "sparse": ("the EIE-style sparse PE array (tessera.hw.sparse.SparseArray)", _sparse_arguments,
               _sparse_design),
    "systolic": ("the int8 systolic GEMM engine (tessera.hw.systolic.SystolicGemm)",
                 _systolic_arguments, _systolic_design),
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
    from tessera.sim.files import write_text
    from tessera.sim.runner import convert

    text = convert(design.create(), name=module or f"tessera_{name}")
    return write_text(path, text)


def run(args):
    from tessera.sim.files import output_folder, output_path

    if args.top == "all":
        output_folder(args.output)
        for name, (_, add_top_arguments, design) in TOPS.items():
            import argparse

            defaults = argparse.ArgumentParser()
            add_top_arguments(defaults)
            path = write(name, design(defaults.parse_args([])), Path(args.output) / f"{name}.v")
            print(f"wrote {path}")
        return 0
    output_path(args.output)
    path = write(args.top, TOPS[args.top][2](args), args.output, args.name)
    print(f"wrote {path}")
    return 0
