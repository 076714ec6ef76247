"""``tessera run MODEL.npz [--digits N | --input X.npy]``: a whole model on the simulated system.

The model (from ``tessera compress -o``) is compiled for the system
(:func:`tessera.golden.compiler.compile_model`), sent with its inputs over the co-simulation
transport (:class:`tessera.sim.system.CosimTransport`) to :class:`tessera.hw.system.SystemTop`,
and checked: the logits against the golden executor and ``run_int8``, every instruction's cycles
against the executor. A mismatch exits 1. The report (per layer: engine, cycles, utilization,
energy, latency) is :mod:`tessera.sim.system_report`'s, whatever the transport.
"""

import json

HELP = "run a compressed model on the simulated system (both engines), checked against golden"

def add_arguments(parser):
    from tessera.sim.tops import TOPS

    parser.add_argument("model", metavar="MODEL.npz", help="a model file from `tessera compress`")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--digits", type=int, default=None, metavar="N",
                        help="run the first N test digits of the model's split (default 10)")
    source.add_argument("--input", metavar="X.npy",
                        help="int8 inputs: one of the model's input shape, or a batch of them")
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                        help="simulator (default: verilator)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    TOPS["system"].add_arguments(parser)
    # A board instead of co-simulation (tessera.boards.run.pick_transport); declared here, so
    # that building the parser imports no board registry (nor Amaranth through it).
    parser.add_argument("--port", metavar="PORT",
                        help="run on a board at this serial port (or a simulated board's pty) "
                             "instead of co-simulation")
    parser.add_argument("--board", metavar="NAME",
                        help="the board at --port (default: the first with the system core, "
                             "ulx3s-85f; `tessera board list`)")
    parser.add_argument("--simulated", action="store_true",
                        help="the port is 'tessera board sim': patient timeouts")


def _inputs(args, model, info):
    import numpy as np
    from tessera.golden.errors import TesseraError

    if args.input:
        from tessera.sim.files import load_array

        x = load_array(args.input, "X", max_elements=2**20)
        shape = tuple(model.input_shape)
        if x.dtype != np.int8:
            raise TesseraError(f"X must be int8, not {x.dtype}")
        if x.shape == shape:
            x = x[None]
        if x.shape[1:] != shape or not len(x):
            raise TesseraError(f"X must have shape {shape} or (n, {', '.join(map(str, shape))}), "
                               f"not {x.shape}")
        return x, None
    from tessera.golden.data import load_digits_split
    from tessera.golden.errors import check_int

    count = check_int(10 if args.digits is None else args.digits, "--digits", 1, 10_000)
    settings = info.get("settings", {})
    data = load_digits_split(settings.get("split_seed", 0), settings.get("test_fraction", 0.3))
    x = model.quantize_input(data.x_test[:count])
    return x, data.y_test[:len(x)]


def run(args):
    from tessera.boards.run import pick_transport
    from tessera.golden.compiler import compile_model
    from tessera.golden.modelfile import load
    from tessera.sim.system import default_config, run_model
    from tessera.sim.system_report import format_summary, summarize
    from tessera.sim.tops import TOPS

    model, info = load(args.model)
    config, transport = pick_transport(args, default_config(**TOPS["system"].params(args)))
    program = compile_model(model, config)
    x, labels = _inputs(args, model, info)
    result = run_model(program, x, transport)
    summary = summarize(program, model, x, result, labels=labels,
                        board_clock=getattr(transport, "core_clock", None))
    summary.update(simulated_cycles=transport.simulated_cycles, seconds=transport.seconds,
                   sim=args.sim)
    if args.json:
        print(json.dumps(summary))
    else:
        print("\n".join(format_summary(summary, args.sim)))
        print(f"simulated {transport.simulated_cycles} cycles in {transport.seconds:.1f} s")
    ok = result.matches_golden and result.cycles_match and result.errors == 0
    return 0 if ok else 1
