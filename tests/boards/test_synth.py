# amaranth: UnusedElaboratable=no
"""The synthesis flow: the I/O harness, errors, and (when the YoWASP tools are installed) a run."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.boards import synth
from tessera.boards.harness import IOHarness
from tessera.golden.errors import TesseraError
from tessera.hw.pe import MACPE
from tessera.sim.runner import Design


def _have_tools():
    return all((Path(sys.executable).parent / f"yowasp-{tool}").exists()
               or shutil.which(f"yowasp-{tool}") for tool in ("yosys", "nextpnr-ecp5"))


def test_harness_counts_and_drives_every_port():
    harness = IOHarness(MACPE(acc_width=20))
    assert harness.input_bits == 8 + 8 + 1 + 1
    assert harness.output_bits == 8 + 20

    core = harness._core
    sim = Simulator(harness)
    sim.add_clock(1e-6)
    parity, so = [], []

    async def testbench(ctx):
        bits = np.random.default_rng(7).integers(0, 2, 200)
        for bit in bits:
            ctx.set(harness.si, int(bit))
            outputs = (ctx.get(core.a_out) & 0xFF) | ((ctx.get(core.acc) & 0xFFFFF) << 8)
            parity.append(bin(outputs).count("1") & 1)
            await ctx.tick()
            so.append(ctx.get(harness.so))

    sim.add_testbench(testbench)
    sim.run()
    # The outputs read before a clock edge are registered at it; so shows their parity one edge
    # later (the XOR tree sits between the output registers and so's register).
    assert so[1:] == parity[:-1]
    assert len(set(parity)) == 2, "random inputs must reach the outputs"


def test_unknown_device_is_refused():
    with pytest.raises(TesseraError, match="unknown device 'xc7a35t'"):
        synth.synthesize(Design(MACPE), "xc7a35t")


def test_targets_name_a_device_and_a_factory():
    for name, target in synth.TARGETS.items():
        assert target.device in synth.DEVICES, name
        assert callable(target.design().factory), name


def test_unknown_target_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        synth.main(["no-such-target"])
    assert exit_info.value.code == 2
    assert "unknown target 'no-such-target'" in capsys.readouterr().err


@pytest.mark.skipif(not _have_tools(), reason="YoWASP tools not installed (`make synth` does)")
def test_synthesize_the_pe_on_ecp5(tmp_path):
    result = synth.synthesize(Design(MACPE), "ecp5-85f", root=tmp_path)
    assert result["fits"] and result["dsps"] == 1 and result["ffs"] >= 8 + 16 + 2 + 32
    assert result["fmax_mhz"] > 50
