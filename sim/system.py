"""The host runtime of the system top: programs over a transport, checked against golden.

A *transport* is any object with ``write(data: bytes)`` and ``read(n, timeout) -> bytes``, the
duck type :class:`tessera.sim.link.HostLink` uses, so a serial port (or the link on top of one)
plugs in where :class:`CosimTransport` is used here. The bytes are the ``cmd`` words, four a
word little-endian, and the ``o`` words, :data:`~tessera.sim.host.system.OUTPUT_BYTES` a word
(:mod:`tessera.sim.host.system`).

:func:`run_model` compiles nothing itself: it takes a :class:`tessera.golden.compiler.Program`,
sends the setup and one inference per input, reads every answer, and compares the logits with
``run_int8`` and every STATS word (the cycles of each instruction) with the golden executor.
"""

from dataclasses import dataclass

import numpy as np
from tessera.golden.errors import TesseraError
from tessera.golden.executor import run_program
from tessera.golden.isa import OutKind
from tessera.sim.host.system import (
    OUTPUT_BYTES,
    command_bytes,
    encode_program,
    output_count,
    parse_output_bytes,
)

__all__ = ["CosimTransport", "SystemRun", "default_config", "demo_section", "run_model"]


def default_config(**depths):
    """The system of ``tessera run`` and the demo: the systolic engine
    :data:`~tessera.golden.system_config.RUN_SYSTOLIC`, four sparse PEs, and the memory depths
    given (the defaults of :class:`~tessera.golden.system_config.SystemConfig`)."""
    from tessera.golden.system_config import RUN_SYSTOLIC, SystemConfig, SystolicConfig

    return SystemConfig(systolic=SystolicConfig(**RUN_SYSTOLIC), **depths)


#: Clock period (ns) of the co-simulated system (a clock inside the simulator:
#: :mod:`tessera.sim.simclock`).
CLOCK_NS = 10


class CosimTransport:
    """A transport to :class:`tessera.hw.system.SystemTop` in co-simulation.

    Writes are queued; a read with unsimulated writes runs the simulation of everything written
    since the transport was made (from reset: the simulated system has no other state), then
    serves its ``o`` bytes in order. A host that writes a whole program and then reads its
    answers, as :func:`run_model` does, costs one simulation. The words reach ``cmd`` through a
    bulk feeder (:class:`tessera.sim.system_harness.SystemHarness`, sixteen words a Python
    write, all loaded while the system is held in reset; a program longer than
    :data:`~tessera.sim.system_harness.FEED_DEPTH` entries gets a deeper feeder, the next
    power of two, built once) and the clock runs inside the simulator
    (:mod:`tessera.sim.simclock`): ``cmd`` is valid every cycle, as the executor assumes, and
    no Python runs while the system computes.

    Parameters
    ----------
    config : SystemConfig
    sim : {"verilator", "icarus"}
    """

    def __init__(self, config, *, sim="verilator"):
        self.config, self.sim = config, sim
        self._written = bytearray()
        self._simulated = 0
        self._out = b""
        self._served = 0
        self.simulated_cycles = 0
        self.seconds = 0.0

    def write(self, data):
        self._written += bytes(data)

    def read(self, n, timeout=None):
        if len(self._written) > self._simulated:
            self._run()
        data = self._out[self._served:self._served + n]
        self._served += len(data)
        return data

    def _run(self):
        from tessera.sim.host.system import output_bytes
        from tessera.sim.runner import Design, simulate
        from tessera.sim.system_harness import FEED_DEPTH, FEED_WORDS, SystemHarness

        usable = len(self._written) // 4 * 4
        words = np.frombuffer(bytes(self._written[:usable]), dtype="<u4")
        entries = -(-len(words) // FEED_WORDS)
        depth = max(FEED_DEPTH, 1 << max(entries - 1, 0).bit_length())
        design = Design(SystemHarness, **self.config.to_dict(), feed_words=FEED_WORDS,
                        feed_depth=depth)
        result = simulate(design, "tessera.sim.cosim.system", sim=self.sim,
                          params={"count": output_count(words, self.config),
                                  "feed_words": FEED_WORDS, "feed_depth": depth},
                          inputs={"words": words.astype(np.int64)}, clock_ns=CLOCK_NS)
        self._out = output_bytes(result.outputs["o"].tolist())
        self._simulated = usable
        self.simulated_cycles = int(result.report["simulated"])
        self.seconds = float(result.report["seconds"])


@dataclass
class SystemRun:
    """What running a model on the system gave, and how it compares with golden.

    Attributes
    ----------
    logits : numpy.ndarray of int8, (n, classes)
    predictions : list of int
    cycles : list of int
        Per inference, what its STATS reported (over a paced transport, the sum of its logged
        instructions' cycles: the first STATS word counts the time between programs too).
    instruction_cycles : list of list of int
    errors : int
        The error bits over the run.
    matches_golden : bool
        The logits equal the golden executor's (itself checked against ``run_int8``).
    cycles_match : bool
        Every STATS word equals the executor's: the cycles of every instruction (over a paced
        transport, every inference's instructions; the setup's loads wait on the line).
    golden : tessera.golden.executor.ProgramRun
        The golden executor's run of the same program and inputs (cycles and MACs of every
        instruction: :mod:`tessera.sim.system_report` reads them).
    """

    logits: np.ndarray
    predictions: list
    cycles: list
    instruction_cycles: list
    errors: int
    matches_golden: bool
    cycles_match: bool
    golden: object = None


def run_model(program, x_q, transport, *, timeout=60.0):
    """Run ``program`` on the int8 inputs ``x_q`` (a batch) over ``transport``.

    A transport whose ``paced`` attribute is true (a serial link,
    :class:`tessera.boards.run.LinkTransport`) delivers each inference's commands as one burst
    but waits on the line between programs; there the inferences' instruction cycles are
    compared, not the setup's or the time between programs.

    Raises
    ------
    TesseraError
        If the system answers fewer words than the program asks for.
    """
    x = np.asarray(x_q)
    config = program.config
    instructions = list(program.setup)
    for n, sample in enumerate(x):
        instructions += program.inference(sample, tag=n & 0xFFFF)
    words = encode_program(instructions, config)
    count = output_count(words, config)
    transport.write(command_bytes(words))
    data = transport.read(count * OUTPUT_BYTES, timeout)
    if len(data) < count * OUTPUT_BYTES:
        raise TesseraError(f"the system sent {len(data) // OUTPUT_BYTES} of the {count} output "
                           f"words the program asks for")
    outputs = parse_output_bytes(data)
    golden = run_program(program, x)

    stats = [w for kind, w in outputs if kind == OutKind.STATS]
    paced = bool(getattr(transport, "paced", False))
    setup_words = 3 + min(len(program.setup) - 1, config.stats_depth)
    errors = stats[1]
    per = stats[setup_words:]
    cycles, logs, position = [], [], 0
    data_words = [w for kind, w in outputs if kind == OutKind.DATA]
    for _ in range(len(x)):
        logged = min(per[position + 2], config.stats_depth)
        block = per[position:position + 3 + logged]
        cycles.append(sum(block[3:]) if paced else block[0])
        errors |= block[1]
        logs.append(block[3:])
        position += 3 + logged
    raw = b"".join(int(w).to_bytes(4, "little") for w in data_words)
    size = program.output_size
    stride = -(-size // 4) * 4
    logits = np.frombuffer(raw, dtype=np.int8).reshape(len(x), stride)[:, :size]
    return SystemRun(
        logits=logits, predictions=logits.argmax(axis=1).tolist(), cycles=cycles,
        instruction_cycles=logs, errors=errors,
        matches_golden=bool(np.array_equal(logits, golden.logits)),
        cycles_match=(cycles == golden.cycles and logs == golden.instruction_cycles
                      and (paced or stats[0] == golden.setup_cycles)),
        golden=golden)


def demo_section(seed, sim, shared=None, *, samples=None):
    """Run the compressed digits CNN and MLP on the simulated system; return (lines, ok).

    Each model is compiled, loaded once, and ``samples`` test digits run end to end on chip
    (the CNN's convolutions on the systolic array, every compressed FC layer on the sparse
    array, activations kept in the activation memory); only the logits and the counters come
    back. The logits must equal ``run_int8``'s and every instruction's cycles the executor's.
    The MLP is ``shared["model"]`` when the demo's compression section left it there.
    ``samples`` defaults to 32 digits on Verilator (a run long enough that its cycles/s line
    is the simulator's steady rate, not its start) and 4 on Icarus (which runs this system at
    well under a thousand cycles a second).
    """
    import time

    from tessera.golden.compiler import compile_model
    from tessera.golden.data import load_digits_split
    from tessera.golden.inference import run_int8
    from tessera.golden.pipeline import compress

    start = time.perf_counter()
    if samples is None:
        samples = 32 if sim == "verilator" else 4
    data = load_digits_split()
    pick = np.random.default_rng(seed).choice(len(data.x_test), samples, replace=False)
    config = default_config()
    mlp = (shared or {}).get("model")
    if mlp is None:
        mlp = compress("mlp", seed).model
    lines = [f"[System] both engines behind one command stream on {sim}: "
             f"{config.systolic.rows}x{config.systolic.cols} systolic array, "
             f"{config.sparse.n_pes} sparse PEs, {config.act_depth:,} B of activation memory"]
    ok = True
    simulated = seconds = 0.0
    for model in (compress("cnn", seed).model, mlp):
        x = model.quantize_input(data.x_test[pick])
        program = compile_model(model, config)
        transport = CosimTransport(config, sim=sim)
        run = run_model(program, x, transport)
        exact = np.array_equal(run.logits, run_int8(model, x).reshape(len(x), -1))
        right = int((np.asarray(run.predictions) == np.asarray(data.y_test)[pick]).sum())
        ok &= exact and run.cycles_match and run.errors == 0
        engines = ", ".join(f"{plan.name} {plan.engine}" for plan in program.layers)
        lines += [f"     {model.name}: {engines}",
                  f"       logits bit-exact against run_int8: {exact}; cycles equal to the "
                  f"golden executor: {run.cycles_match}; {right}/{len(x)} digits right",
                  f"       {np.mean(run.cycles):,.0f} cycles per inference "
                  f"({min(run.cycles):,}-{max(run.cycles):,})"]
        simulated += transport.simulated_cycles
        seconds += transport.seconds
    rate = simulated / seconds if seconds else 0.0
    lines.append(f"     {simulated:,.0f} cycles simulated in {seconds:.1f} s ({rate:,.0f} "
                 f"cycles/s; {time.perf_counter() - start:.1f} s in all)")
    return lines, bool(ok)
