"""Run networks on a board (real or simulated) through a serial transport.

Boards with the system top (:attr:`tessera.boards.registry.CoreSpec.system`) run
``tessera run``'s programs: :class:`LinkTransport` is :func:`tessera.sim.system.run_model`'s
transport over :class:`tessera.sim.link.HostLink`, carrying exactly the bytes
:class:`tessera.sim.system.CosimTransport` gets (:func:`open_board` opens one on a serial port);
:func:`run_system` runs the compressed digits MLP that way. Boards with the sparse array run
:func:`run_mlp`: :class:`tessera.sim.host.sparse.Program` builds the command words, the board
runs fc1 -> fc2 -> fc3 on chip for each digit, and the logits and every layer's counters are
checked on the host against golden (``run_int8`` and the cycle model).
"""

import time

import numpy as np
from tessera.golden.errors import TesseraError

__all__ = ["LinkTransport", "open_board", "run_mlp", "run_system"]


class LinkTransport:
    """The transport of :func:`tessera.sim.system.run_model` to a board's system core over
    ``link`` (a :class:`tessera.sim.link.HostLink`, connected).

    The bytes are :class:`tessera.sim.system.CosimTransport`'s (``cmd`` words four bytes
    little-endian, ``o`` words five), which the board's bridge turns into words unchanged. They
    go **program by program**: the words up to each STATS are sent together, and the transport
    reads that program's answer (:func:`tessera.sim.host.system.output_count` words) before it
    sends the next. So an inference's commands arrive on the board as one frame, which its
    command gate (:class:`tessera.hw.link.CommandGate`) hands to the core without a gap: every
    instruction's cycles are co-simulation's. Only the time between programs, which the first
    STATS word counts, depends on the line (``paced``, see :func:`run_model`).

    Parameters
    ----------
    link : tessera.sim.link.HostLink
    config : tessera.golden.system_config.SystemConfig
        The board's system configuration.
    timeout : float
        Seconds to wait for a program's answer.
    """

    paced = True
    #: ``(MHz, where it comes from)``: the clock latencies are reported at
    #: (:func:`tessera.sim.system_report.summarize`); ``None``: the synthesized Fmax.
    core_clock = None

    def __init__(self, link, config, *, timeout=10.0, clock=time.monotonic):
        self.link, self.config, self.timeout, self.clock = link, config, timeout, clock
        self._pending = bytearray()
        self._answers = bytearray()
        self.bytes_sent = self.bytes_received = 0
        self.programs = []            # (command bytes, seconds to its answer) of each program
        self.simulated_cycles = 0
        self.seconds = 0.0

    def _send(self, words):
        from tessera.sim.host.system import OUTPUT_BYTES, command_bytes, output_count

        start = self.clock()
        data = command_bytes(words)
        self.link.send(data)
        answer = self.link.receive(output_count(words, self.config) * OUTPUT_BYTES,
                                   timeout=self.timeout)
        self._answers += answer
        self.bytes_sent += len(data)
        self.bytes_received += len(answer)
        self.programs.append((len(data), self.clock() - start))
        self.seconds += self.programs[-1][1]

    def write(self, data):
        """Queue ``data`` (``cmd`` words); send every whole program that ends with STATS."""
        from tessera.golden.isa import Op
        from tessera.sim.host.system import instructions

        self._pending += bytes(data)
        words = np.frombuffer(bytes(self._pending[:len(self._pending) // 4 * 4]), dtype="<u4")
        start = 0
        for _, end, opcode, _ in instructions(words, self.config):
            if opcode == Op.STATS:
                self._send(words[start:end])
                start = end
        del self._pending[:4 * start]

    def read(self, n, timeout=None):
        """Return up to ``n`` answer bytes (a program not ended by STATS is sent first)."""
        if len(self._pending) >= 4:
            words = np.frombuffer(bytes(self._pending[:len(self._pending) // 4 * 4]),
                                  dtype="<u4")
            del self._pending[:4 * len(words)]
            self._send(words)
        data = bytes(self._answers[:n])
        del self._answers[:n]
        return data


def _link(transport, spec, host_timeouts, clock):
    """A connected :class:`HostLink` to board ``spec`` over ``transport``: frames of half the
    board's command buffer (at most its ``max_payload``), so two are in flight."""
    from tessera.sim.link import HostLink

    device = spec.link_params()
    payload = min(device.get("buffer_bytes", 1024) // 2, device.get("max_payload", 1024))
    link = HostLink(transport, max_payload=payload, clock=clock, **(host_timeouts or {}))
    link.connect()
    return link


def open_board(port, name, *, simulated=False, clock=time.monotonic):
    """Open board ``name``'s system core at serial port ``port``: return ``(serial, transport)``
    (close ``serial`` when done; ``transport.config`` is the board's configuration).

    ``simulated`` gives a simulated board's pty patient timeouts
    (:data:`tessera.boards.sim.HOST_TIMEOUTS`).

    Raises
    ------
    TesseraError
        One line: an unknown board, a board without the system core, a port that cannot be
        opened, a board that does not answer.
    """
    from tessera.sim.serial import SerialTransport

    from .registry import BOARDS, board
    from .sim import HOST_TIMEOUTS

    spec = board(name)
    if not spec.core.system:
        systems = ", ".join(b.name for b in BOARDS.values() if b.core.system)
        raise TesseraError(f"board {name} runs {spec.core.describe()}, not the system: "
                           f"'tessera run --port' needs one of {systems}")
    serial = SerialTransport(port, spec.baud)
    try:
        link = _link(serial, spec, HOST_TIMEOUTS if simulated else None, clock)
    except BaseException:
        serial.close()
        raise
    transport = LinkTransport(link, spec.core.config,
                              timeout=link.retransmit_after * link.tries, clock=clock)
    transport.core_clock = (spec.core_hz / 1e6, f"the clock of {spec.name}'s core")
    return serial, transport


def run_system(transport, name, *, samples=2, seed=0, model=None, host_timeouts=None,
               clock=time.monotonic):
    """Run the compressed digits ``model`` (default the MLP of ``seed``) on board ``name``'s
    system core over serial ``transport``: :func:`tessera.sim.system.run_model` through a
    :class:`LinkTransport`. Return a dict like :func:`run_mlp`'s (``counters_match`` counts
    the inferences whose every instruction took the executor's cycles)."""
    from tessera.golden.compiler import compile_model
    from tessera.golden.data import load_digits_split
    from tessera.golden.inference import run_int8
    from tessera.golden.pipeline import compress
    from tessera.sim.system import run_model

    from .registry import board

    spec = board(name)
    if model is None:
        model = compress("mlp", seed).model
    data = load_digits_split()
    pick = np.random.default_rng(seed).choice(len(data.x_test), samples, replace=False)
    x_q = model.quantize_input(data.x_test[pick])
    golden = run_int8(model, x_q).reshape(samples, -1).astype(np.int64)
    program = compile_model(model, spec.core.config)
    link = _link(transport, spec, host_timeouts, clock)
    system = LinkTransport(link, spec.core.config, timeout=link.retransmit_after * link.tries,
                           clock=clock)
    start = clock()
    run = run_model(program, x_q, system)
    seconds = clock() - start
    logits = run.logits.astype(np.int64)
    logits_ok = int((logits == golden).all(axis=1).sum())
    from tessera.golden.executor import run_program

    expected = run_program(program, x_q).instruction_cycles
    counters_ok = sum(a == b for a, b in zip(run.instruction_cycles, expected))
    per_inference = float(np.mean(run.cycles))
    return {
        "board": name, "model": model.name, "samples": samples,
        "matches_golden": bool(run.matches_golden and logits_ok == samples and run.cycles_match
                               and run.errors == 0),
        "logits_match": logits_ok, "counters_match": counters_ok, "cycles_match": run.cycles_match,
        "errors": run.errors, "logits": logits.tolist(), "golden_logits": golden.tolist(),
        "cycles": run.cycles, "instruction_cycles": run.instruction_cycles,
        "load_bytes": system.programs[0][0], "load_seconds": system.programs[0][1],
        "seconds": seconds, "bytes_sent": system.bytes_sent,
        "bytes_received": system.bytes_received,
        "link_bytes_per_second": system.bytes_sent / seconds if seconds else 0.0,
        "retransmissions": link.retransmissions, "cycles_per_inference": per_inference,
        "latency_us": per_inference / spec.core_hz * 1e6,
    }


def _widths(core_spec):
    """The core's stream widths, from a core built only to read its signature (and dropped at
    once: an elaboratable never elaborated would warn)."""
    import gc
    import warnings

    from amaranth.hdl import UnusedElaboratable
    from tessera.hw.link import stream_widths

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        core = core_spec.create()
        widths = stream_widths(core, core_spec.command)
        del core
        gc.collect()    # inside the filter: a core in a reference cycle would warn later
    return widths


def run_mlp(transport, name, *, samples=4, seed=0, model=None, host_timeouts=None,
            clock=time.monotonic):
    """Load the compressed MLP onto board ``name`` over ``transport``, run ``samples`` test
    digits, check them; return a dict of results and measurements.

    The dict holds ``matches_golden`` (logits and counters), ``logits`` / ``golden_logits``,
    ``load_bytes`` / ``load_seconds`` (the resident layers), ``link_bytes_per_second`` (command
    bytes over the whole run, wall time), ``cycles_per_inference`` (the three layers' compute
    and write-back cycles, from the board's counters) and ``latency_us`` at the board's clock.
    """
    from tessera.golden.data import load_digits_split
    from tessera.golden.inference import run_int8
    from tessera.golden.pipeline import compress
    from tessera.golden.sparse_cycles import matrix_cycles
    from tessera.sim.host.core_link import CoreLink
    from tessera.sim.host.sparse import Program, parse_stats, stats_words

    from .registry import board

    spec = board(name)
    if spec.core.system:
        raise TesseraError(f"board {name} runs the system: use run_system")
    config = spec.core.config
    if model is None:
        model = compress("mlp", seed).model
    matrices = [model.eie(layer, n_pes=config.n_pes) for layer in model.layers]
    data = load_digits_split()
    pick = np.random.default_rng(seed).choice(len(data.x_test), samples, replace=False)
    x_q = model.quantize_input(data.x_test[pick])
    golden, trace = run_int8(model, x_q, trace=True)

    program = Program(config)
    loaded = [program.load(m, layer.bias, layer.multiplier, layer.shift)
              for m, layer in zip(matrices, model.layers)]
    load_words = list(program.words)

    widths = _widths(spec.core)
    start = clock()
    link = _link(transport, spec, host_timeouts, clock)
    core = CoreLink(link, *widths)
    core.send(load_words)
    load_seconds = clock() - start
    load_bytes = core.bytes_sent

    n_stats = stats_words(config)
    logits, cycles_ok, cycles, mismatches = [], 0, [], []
    for s in range(samples):
        program.words = []
        program.activations(x_q[s].reshape(-1), matrices[0].cols)
        for n, (layer, lay) in enumerate(zip(model.layers, loaded)):
            program.run(lay, relu=layer.relu, emit=n == len(loaded) - 1)
            program.stats()
        core.send(program.words)
        total = 0
        for n, m in enumerate(matrices):
            last = n == len(matrices) - 1
            if last:
                logits.append(core.receive(m.rows, timeout=link.retransmit_after * link.tries))
            stats = parse_stats(core.receive(n_stats, timeout=link.retransmit_after * link.tries),
                                config)
            gold = matrix_cycles(m, trace.inputs[n][s].reshape(-1),
                                 fifo_depth=config.fifo_depth, emit=last)
            # The last layer's outputs leave through the link bridge, a byte a cycle, so its
            # write-back may wait on them: there the model's count is a lower bound.
            writeback_ok = (stats["writeback_cycles"] >= gold.writeback if last
                            else stats["writeback_cycles"] == gold.writeback)
            same = (stats["cycles"] == gold.cycles and writeback_ok
                    and np.array_equal(stats["busy"], gold.busy)
                    and np.array_equal(stats["stall"], gold.stall))
            cycles_ok += same
            if not same:
                mismatches.append({"sample": s, "layer": n,
                                   "cycles": [stats["cycles"], gold.cycles],
                                   "writeback": [stats["writeback_cycles"], gold.writeback],
                                   "busy": [stats["busy"].tolist(), gold.busy.tolist()],
                                   "stall": [stats["stall"].tolist(), gold.stall.tolist()],
                                   "errors": stats["errors"]})
            total += stats["cycles"] + stats["writeback_cycles"]
        cycles.append(total)
    seconds = clock() - start
    logits = np.array(logits, dtype=np.int64)
    logits_ok = int((logits == golden.astype(np.int64)).all(axis=1).sum())
    per_inference = float(np.mean(cycles))
    return {
        "board": name,
        "samples": samples,
        "matches_golden": logits_ok == samples and cycles_ok == samples * len(matrices),
        "logits_match": logits_ok,
        "counters_match": cycles_ok,
        "counter_mismatches": mismatches,
        "logits": logits.tolist(),
        "golden_logits": golden.astype(np.int64).tolist(),
        "load_bytes": load_bytes,
        "load_seconds": load_seconds,
        "bytes_sent": core.bytes_sent,
        "bytes_received": core.bytes_received,
        "seconds": seconds,
        "link_bytes_per_second": core.bytes_sent / seconds if seconds else 0.0,
        "retransmissions": link.retransmissions,
        "cycles_per_inference": per_inference,
        "latency_us": per_inference / spec.core_hz * 1e6,
    }


def pick_transport(args, config):
    """``tessera run``'s transport: ``(config, transport)``.

    Without ``args.port``, :class:`tessera.sim.system.CosimTransport` of ``config`` on
    ``args.sim``. With it, the board's :class:`LinkTransport` and the board's configuration
    (the memory-depth options do not apply); ``args.sim`` then names the board and port, which
    the report prints where it names the simulator.
    """
    from tessera.sim.system import CosimTransport

    if not getattr(args, "port", None):
        return config, CosimTransport(config, sim=args.sim)
    from .registry import BOARDS

    name = args.board or next(b.name for b in BOARDS.values() if b.core.system)
    _, transport = open_board(args.port, name, simulated=args.simulated)
    args.sim = f"{name} at {args.port}"
    return transport.config, transport
