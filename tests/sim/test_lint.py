"""Every top's generated Verilog passes Verilator's linter and parses in Icarus."""

import argparse

import pytest
from tessera.sim import lint
from tessera.sim.commands.verilog import TOPS, write


@pytest.mark.parametrize("name", sorted(TOPS))
def test_generated_verilog_is_clean(name, tmp_path):
    _, add_arguments, design = TOPS[name]
    defaults = argparse.ArgumentParser()
    add_arguments(defaults)
    path = write(name, design(defaults.parse_args([])), tmp_path / f"{name}.v")
    assert lint.lint(path) == []


def test_lint_catches_a_real_problem(tmp_path):
    path = tmp_path / "bad.v"
    path.write_text("module bad(input a, output reg y);\n"
                    "  always @* y = y ^ a;\n"  # a combinational loop
                    "endmodule\n")
    assert lint.lint(path)
