# amaranth: UnusedElaboratable=no
"""cocotb testbenches of the systolic GEMM engine, on Icarus and Verilator.

A handful of designs cover the corners of the parameter space (non-square arrays, a single row,
a single column, both dataflows, accumulators exactly as narrow as K allows, M-tiles that do
not divide M, the default 8x8, and the output path's lanes: a whole row a word by default, one
result a word (``ws1x5``, the small system's narrow path) and two words a row (``os2x4l2``)).
Every design runs on both simulators: the single-row and single-column corners, the two-lane
design and the LUT-multiplier design run every testcase on Icarus and three of them on
Verilator (test_systolic_corners_on_verilator), because a Verilator build costs 15-50 s.
"""

import pytest
from tessera.golden.config.systolic import SystolicConfig
from tessera.golden.errors import TesseraError
from tessera.hw.systolic import SystolicGemm
from tessera.hw.systolic.protocol import result_layout
from tessera.sim.runner import Design, convert, simulate

SIMULATORS = ["icarus", "verilator"]

#: name -> SystolicGemm parameters. acc_width 20 is the narrowest that holds 31 products of
#: -128 * -128, so the extremes test drives those designs to the edge of overflow.
DESIGNS = {
    "ws2x3": dict(rows=2, cols=3, dataflow="ws", max_m=24, max_k=20, max_n=16, acc_depth=7),
    "os3x5": dict(rows=3, cols=5, dataflow="os", acc_width=20, max_m=20, max_k=31, max_n=17),
    "ws1x5": dict(rows=1, cols=5, dataflow="ws", acc_width=20, max_m=12, max_k=31, max_n=11,
                  acc_depth=4, lanes=1),
    "os4x1": dict(rows=4, cols=1, dataflow="os", max_m=13, max_k=12, max_n=5),
    "os2x4l2": dict(rows=2, cols=4, dataflow="os", max_m=9, max_k=10, max_n=11, lanes=2),
}
#: (design, simulator) pairs: the two main small designs on both, the corners on Icarus.
PAIRS = [(name, sim) for name in DESIGNS for sim in SIMULATORS
         if sim == "icarus" or name in ("ws2x3", "os3x5")]
DEFAULT = {"ws8x8": dict(rows=8, cols=8, dataflow="ws"),
           "os8x8": dict(rows=8, cols=8, dataflow="os")}


def run(name, sim, testcase, **params):
    config = {**DESIGNS, **DEFAULT}[name]
    design = Design(SystolicGemm, **config)
    params["config"] = SystolicConfig(**config).params()
    return simulate(design, "tests.hw.tb_systolic", sim=sim, testcase=testcase, params=params)


@pytest.mark.parametrize(("name", "sim"), PAIRS)
@pytest.mark.parametrize("testcase", ["random_gemms", "edges", "extremes", "backpressure",
                                      "bunched_rows", "command_while_busy",
                                      "reset_mid_gemm", "bad_command_skipped"])
def test_systolic(name, sim, testcase):
    result = run(name, sim, testcase)
    assert result.failed == 0 and result.report["gemms"] > 0


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", DEFAULT)
def test_systolic_default_size(name, sim):
    result = run(name, sim, ["random_gemms", "convolution"], count=4,
                 conv={"n": 2, "h": 5, "w": 4, "c": 3, "oc": 10, "stride": 1, "padding": 1})
    assert result.tests == 2 and result.report["gemms"] >= 1
    assert result.report["conv_output"] == [2, 5, 4, 10]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_systolic_patterns(sim):
    """Every combination of gap and back-pressure patterns, on one small design."""
    for patterns in ({"a": ["bursty"], "b": ["random"], "q": ["random"], "o": ["alternate"]},
                     {"a": ["always"], "b": ["always"], "q": ["always"], "o": ["random"]},
                     {"a": ["alternate"], "b": ["alternate"], "q": ["bursty"],
                      "o": ["always"]}):
        run("ws2x3", sim, "backpressure", patterns=patterns, count=3)
        run("os3x5", sim, "backpressure", patterns=patterns, count=3)


def test_systolic_lut_multipliers():
    """Half the PEs on Booth LUT multipliers, two of the three post-processing lanes on
    shift-add logic multipliers: same results, same cycles (Icarus)."""
    config = dict(DESIGNS["ws2x3"], dsp_macs=3, dsp_lanes=1)
    params = {"config": SystolicConfig(**DESIGNS["ws2x3"]).params(), "count": 5}
    simulate(Design(SystolicGemm, **config), "tests.hw.tb_systolic", sim="icarus",
             testcase="random_gemms", params=params)


def test_systolic_signature():
    top = SystolicGemm(rows=3, cols=5, max_m=10, max_k=20, max_n=30)
    members = dict(top.signature.members.items())
    assert set(members) == {"cmd", "a", "b", "q", "o", "busy", "cycles", "error"}
    assert len(top.a.payload.as_value()) == 24 and len(top.b.payload.as_value()) == 40
    assert top.o.payload.shape() == result_layout(5, 32) and top.config.lanes == 5
    assert len(top.o.payload.data[4]) == 32 and len(top.o.payload.n) == 3
    assert SystolicGemm(rows=3, cols=4, lanes=2).o.payload.shape() == result_layout(2, 32)
    assert top.config.tile_m == 10 and top.config.a_depth == 7 * 10
    assert len(top.cycles) == 32
    assert "module tessera_systolic" in convert(top, name="tessera_systolic")


@pytest.mark.parametrize(("kwargs", "exception", "message"), [
    ({"rows": 33}, TesseraError, "rows must be between 1 and 32, not 33"),
    ({"cols": "8"}, TypeError, "cols must be an integer, not '8'"),
    ({"dataflow": "rs"}, ValueError, "dataflow must be 'ws' or 'os', not 'rs'"),
    ({"acc_width": 16, "max_k": 64}, ValueError,
     "acc_width 16 is too narrow for max_k 64: 64 products of -128 \\* -128 need "
     "acc_width >= 22"),
    ({"dsp_macs": 65}, ValueError, "dsp_macs must be between 0 and 64, not 65"),
    ({"lanes": 3}, ValueError, "lanes must divide cols \\(8\\), not 3"),
    ({"dsp_lanes": 9}, ValueError, "dsp_lanes must be between 0 and 8, not 9"),
    ({"max_n": 0}, ValueError, "max_n must be between 1 and 65535, not 0"),
])
def test_systolic_rejects(kwargs, exception, message):
    with pytest.raises(exception, match=f"^{message}$"):
        SystolicGemm(**kwargs)


#: Issue 16: the corner designs that PAIRS runs on Icarus only (a single row, a single column,
#: LUT multipliers) also run on Verilator, fewer cases: every systolic design runs on both.
VERILATOR_CORNERS = {"ws1x5": DESIGNS["ws1x5"], "os4x1": DESIGNS["os4x1"],
                     "os2x4l2": DESIGNS["os2x4l2"],
                     "ws2x3-lut": dict(DESIGNS["ws2x3"], dsp_macs=3, dsp_lanes=1)}


@pytest.mark.parametrize("name", VERILATOR_CORNERS)
def test_systolic_corners_on_verilator(name):
    config = VERILATOR_CORNERS[name]
    golden = {k: v for k, v in config.items() if k not in ("dsp_macs", "dsp_lanes")}
    result = simulate(Design(SystolicGemm, **config), "tests.hw.tb_systolic", sim="verilator",
                      testcase=["random_gemms", "extremes", "edges"],
                      params={"config": SystolicConfig(**golden).params(), "count": 4})
    assert result.tests == 3 and result.failed == 0 and result.report["gemms"] > 0
