"""The registry of tops (tessera.sim.tops) and the tools that read it."""

# amaranth: UnusedElaboratable=no

import argparse
import importlib

import pytest
from tessera.golden.config import SparseConfig, SystolicConfig
from tessera.sim.tops import TOPS, Option, SynthTarget, Top, resolve


@pytest.mark.parametrize("name", list(TOPS))
def test_every_entry_resolves(name):
    top = TOPS[name]
    assert top.name == name
    factory = resolve(top.factory)
    design = top.design()
    assert design.factory is factory
    component = design.create()
    assert hasattr(component, "signature")
    if top.config is not None:
        config = top.configuration()
        assert config == component.config
    for module in top.benchmarks:
        bench = importlib.import_module(f"tessera.sim.bench.{module}")
        assert bench.TITLE and callable(bench.run)
    if top.demo:
        assert callable(resolve(top.demo))
    for target in top.synth.values():
        assert isinstance(target, SynthTarget)
        assert target.device in ("ecp5-85f", "ice40-up5k")


@pytest.mark.parametrize("name, config", [("systolic", SystolicConfig), ("sparse", SparseConfig)])
def test_engine_defaults_are_the_configurations(name, config):
    """An engine's options default to its configuration's fields: one set of defaults."""
    top = TOPS[name]
    defaults = config()
    for field in config.__dataclass_fields__:
        assert top.option(field).default == getattr(config, field), field
    assert top.configuration() == defaults


def test_options_become_flags_with_their_defaults():
    parser = argparse.ArgumentParser()
    TOPS["sparse"].add_arguments(parser)
    args = parser.parse_args(["--pes", "8", "--fifo-depth", "3"])
    params = TOPS["sparse"].params(args)
    assert params["n_pes"] == 8 and params["fifo_depth"] == 3
    assert params["act_depth"] == SparseConfig().act_depth
    assert "(default 256)" in parser.format_help()


def test_tools_read_the_registry():
    from tessera.boards import synth
    from tessera.sim.bench import ACROSS_TOPS, BENCHMARKS

    assert list(synth.TARGETS) == [t for top in TOPS.values() for t in top.synth]
    for top in TOPS.values():
        for name, target in top.synth.items():
            assert synth.TARGETS[name].factory == top.factory
            assert synth.TARGETS[name].params == target.params
    assert list(BENCHMARKS) == [b for top in TOPS.values() for b in top.benchmarks] \
        + list(ACROSS_TOPS)


def test_adding_a_top_is_one_entry(monkeypatch):
    """A new entry appears in `tessera verilog` with its options, and nowhere else to edit."""
    from tessera.sim.cli import build_parser

    entry = Top(name="extra", help="a test top", factory="tessera.hw.pe:MACPE",
                options=(Option("acc_width", "accumulator width", default=20),))
    monkeypatch.setitem(TOPS, "extra", entry)
    args = build_parser().parse_args(["verilog", "extra", "-o", "x.v"])
    assert args.acc_width == 20
    assert entry.design().params == {"acc_width": 20}
