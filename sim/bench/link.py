"""The host link in simulation, board by board: what issue 11 asks the docs to report.

Each board's link device (:func:`tessera.boards.registry.board_device`, the component its top
puts on the pins) runs on Verilator behind a pseudo-terminal (:class:`tessera.boards.sim.
SimulatedBoard`, its UART pins driven bit by bit at the board's divisor), and the host talks to
it as to a real board, over pyserial:

- a **system** board runs ``tessera run --port``'s library path
  (:func:`tessera.boards.run.open_board`, :func:`tessera.sim.system.run_model`): the compressed
  CNN, then the MLP, ``DIGITS`` test digits each, in one session;
- a **sparse** board runs ``tessera board run``'s (:func:`tessera.boards.run.run_mlp`): the
  compressed MLP.

Every run must match golden (logits, and every instruction's or layer's cycles), or the
benchmark fails. Per board, printed and returned:

- ``payload_bytes_per_second``: command bytes over the session's simulated time at the board's
  clock (the cycles the simulator reports divided by the core clock); every idle poll and wait
  for an acknowledgement is inside, so it is a lower bound of the link's rate;
- per model, ``load_bytes`` (the program that loads the weights) and ``load_ms``, the time it
  takes at that rate;
- per model, ``cycles`` per inference and ``latency_us`` at the board's clock: the core's own
  (on a system board the inference's instruction cycles from STATS, on a sparse board the
  layers' counters).

``TESSERA_LINK_BOARDS=a,b`` picks the boards (default :data:`DEFAULT_BOARDS`: the iCESugar's
115,200 baud takes some 20 million simulated cycles for the MLP's load, a quarter of an hour).
"""

import os

TITLE = "the host link in simulation, per board: payload rate, model load time, latency"

#: The boards measured by default (``TESSERA_LINK_BOARDS`` overrides).
DEFAULT_BOARDS = ("icebreaker", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f", "ecpix5-85f")
#: Test digits run per model.
DIGITS = 2


def _system_session(name, path):
    """The CNN and the MLP on a system board at ``path``; return ``{model: figures}``, bytes."""
    import numpy as np
    from tessera.boards.run import open_board
    from tessera.golden.compiler import compile_model
    from tessera.golden.data import load_digits_split
    from tessera.golden.pipeline import compress
    from tessera.sim.system import run_model

    digits = load_digits_split()
    models = {}
    serial, transport = open_board(path, name, simulated=True)
    with serial:
        for model_name in ("cnn", "mlp"):
            model = compress(model_name, 0).model
            x = model.quantize_input(digits.x_test[:DIGITS])
            program = compile_model(model, transport.config)
            first = len(transport.programs)
            run = run_model(program, x, transport)
            if not (run.matches_golden and run.cycles_match and run.errors == 0):
                raise AssertionError(f"{name}: {model_name} differs from golden over the link")
            models[model_name] = {"load_bytes": transport.programs[first][0],
                                  "cycles": float(np.mean(run.cycles))}
    return models, transport.bytes_sent


def _sparse_session(name, path):
    """The MLP on a sparse board at ``path``; return ``{"mlp": figures}``, bytes."""
    from tessera.boards.registry import board
    from tessera.boards.run import run_mlp
    from tessera.boards.sim import HOST_TIMEOUTS
    from tessera.sim.serial import SerialTransport

    with SerialTransport(path, board(name).baud) as serial:
        result = run_mlp(serial, name, samples=DIGITS, host_timeouts=HOST_TIMEOUTS)
    if not result["matches_golden"]:
        raise AssertionError(f"{name}: the MLP differs from golden over the link")
    return ({"mlp": {"load_bytes": result["load_bytes"],
                     "cycles": float(result["cycles_per_inference"])}},
            result["bytes_sent"])


def measure(name):
    """Run board ``name``'s session (see the module); return its figures."""
    from tessera.boards.registry import board
    from tessera.boards.sim import SimulatedBoard

    spec = board(name)
    session = _system_session if spec.core.system else _sparse_session
    with SimulatedBoard(name) as simulated:
        models, sent = session(name, simulated.path)
    seconds = simulated.report["cycles"] / spec.core_hz
    rate = sent / seconds
    for figures in models.values():
        figures["load_ms"] = round(figures["load_bytes"] / rate * 1e3, 1)
        figures["latency_us"] = round(figures["cycles"] / spec.core_hz * 1e6, 1)
    return {"board": name, "clock_mhz": spec.core_hz / 1e6, "baud": spec.baud,
            "core": spec.core.describe(), "line_bytes_per_second": spec.baud // 10,
            "bytes_sent": sent, "simulated_cycles": simulated.report["cycles"],
            "payload_bytes_per_second": round(rate), "models": models}


def run():
    names = [n for n in os.environ.get("TESSERA_LINK_BOARDS", "").split(",") if n]
    rows = []
    for name in names or DEFAULT_BOARDS:
        row = measure(name)
        rows.append(row)
        print(f"   {name}: {row['clock_mhz']:g} MHz, {row['baud']:,} baud: payload "
              f">= {row['payload_bytes_per_second'] / 1e3:,.1f} KB/s (line "
              f"{row['line_bytes_per_second'] / 1e3:,.0f} KB/s; {row['bytes_sent']:,} bytes in "
              f"{row['simulated_cycles']:,} cycles)")
        for model, m in row["models"].items():
            print(f"      {model}: load {m['load_bytes']:,} bytes in {m['load_ms']:,.1f} ms; "
                  f"{m['cycles']:,.1f} cycles per inference = {m['latency_us']:,.1f} us")
    return {"digits": DIGITS, "boards": rows}
