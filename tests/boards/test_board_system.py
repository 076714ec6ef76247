# amaranth: UnusedElaboratable=no
"""The system top as a board's core: the transport's programs, `tessera run --port`'s refusals,
and the digits MLP and CNN on the simulated ULX3S-85F through a pty with pyserial."""

import numpy as np
import pytest
from tessera.boards.registry import BOARDS
from tessera.boards.run import LinkTransport
from tessera.golden.isa import Op
from tessera.sim.cli import main
from tessera.sim.host.system import (
    OUTPUT_BYTES,
    command_bytes,
    encode_program,
    instructions,
    output_count,
)
from tessera.sim.system import default_config


class _RecordingLink:
    """A link that records each send and answers with as many zero bytes as asked for."""

    def __init__(self):
        self.sent, self.asked = [], []

    def send(self, data):
        self.sent.append(bytes(data))

    def receive(self, count, *, timeout):
        self.asked.append(count)
        return bytes(count)


def test_link_transport_sends_program_by_program(digits, model_cache):
    """The bytes are the co-simulation's, cut after each STATS; each program's answer is read
    before the next is sent."""
    from tessera.golden.compiler import compile_model
    from tessera.golden.pipeline import compress

    config = default_config()
    model = compress("mlp", 0, data=digits, cache_dir=model_cache).model
    program = compile_model(model, config)
    x = model.quantize_input(digits.x_test[:3])
    instrs = list(program.setup)
    for n, sample in enumerate(x):
        instrs += program.inference(sample, tag=n)
    words = encode_program(instrs, config)
    link = _RecordingLink()
    transport = LinkTransport(link, config)
    data = command_bytes(words)
    transport.write(data[:1001])          # a cut inside a word and inside a program
    transport.write(data[1001:])
    assert b"".join(link.sent) == data
    assert len(link.sent) == 4            # the setup, then one program per inference
    position = 0
    for chunk, asked in zip(link.sent, link.asked):
        chunk_words = np.frombuffer(chunk, dtype="<u4")
        ops = [op for _, _, op, _ in instructions(chunk_words, config)]
        assert ops[-1] == Op.STATS and Op.STATS not in ops[:-1]
        assert asked == output_count(chunk_words, config) * OUTPUT_BYTES
        position += len(chunk)
    assert len(transport.read(sum(link.asked))) == sum(link.asked)


def test_the_ecp5_45f_and_85f_boards_run_the_system(digits, model_cache):
    """The 85F boards carry tessera run's system; the 45F a smaller one, which still holds
    each digits model (the compiler says when a model does not fit)."""
    from tessera.golden.compiler import compile_model
    from tessera.golden.pipeline import compress

    systems = {name for name, b in BOARDS.items() if b.core.system}
    assert systems == {"ulx3s-45f", "ulx3s-85f", "ecpix5-85f"}
    for name in systems:
        assert BOARDS[name].link_params()["gate_words"] >= 256
        assert (BOARDS[name].core.config == default_config()) == name.endswith("85f")
    small = BOARDS["ulx3s-45f"].core.config
    assert (small.systolic.rows, small.systolic.cols, small.sparse.n_pes) == (4, 4, 2)
    for kind in ("mlp", "cnn"):
        compile_model(compress(kind, 0, data=digits, cache_dir=model_cache).model, small)


def test_run_port_refuses_a_board_without_the_system(tmp_path, capsys, digits, model_cache):
    from tessera.golden.modelfile import save
    from tessera.golden.pipeline import compress

    model = tmp_path / "m.npz"
    save(model, compress("mlp", 0, data=digits, cache_dir=model_cache).model)
    assert main(["run", str(model), "--port", "/dev/null", "--board", "icebreaker"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "runs SparseArray" in err[0] and "ulx3s-85f" in err[0], err


@pytest.mark.slow
def test_models_through_the_simulated_board(digits, model_cache):
    """ULX3S-85F's top (the system behind the link, divisor 25) on Verilator, behind a pty:
    `tessera run`'s library function over pyserial runs the compressed MLP and CNN on two
    digits each; logits equal run_int8's, every inference's instruction cycles the
    executor's."""
    from tessera.boards.run import open_board
    from tessera.boards.sim import SimulatedBoard
    from tessera.golden.compiler import compile_model
    from tessera.golden.inference import run_int8
    from tessera.golden.pipeline import compress
    from tessera.sim.system import run_model
    from tessera.sim.system_report import summarize

    with SimulatedBoard("ulx3s-85f") as simulated:
        serial, transport = open_board(simulated.path, "ulx3s-85f", simulated=True)
        with serial:
            for name in ("cnn", "mlp"):
                model = compress(name, 0, data=digits, cache_dir=model_cache).model
                x = model.quantize_input(digits.x_test[:2])
                program = compile_model(model, transport.config)
                run = run_model(program, x, transport)
                golden = np.asarray(run_int8(model, x)).reshape(len(x), -1)
                assert np.array_equal(run.logits, golden), name
                assert run.matches_golden and run.errors == 0, name
                assert run.cycles_match, (name, run.instruction_cycles)
                # `tessera run --port` reports latencies at the board's clock.
                summary = summarize(program, model, x, run, board_clock=transport.core_clock)
                mhz = BOARDS["ulx3s-85f"].core_hz / 1e6
                assert summary["clock_mhz"] == mhz and "ulx3s-85f" in summary["clock"]
                assert summary["latency_us"] == pytest.approx([c / mhz for c in summary["cycles"]])
    # No retransmission count is asserted: the host's timeouts are wall-clock seconds, and CI
    # at load 9 slowed the simulated board past them (19 resends, every answer still exact).
    assert simulated.report["to_board"] > transport.bytes_sent
