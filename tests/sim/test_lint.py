"""Every top's generated Verilog passes Verilator's linter and parses in Icarus."""

import pytest
from tessera.sim import lint
from tessera.sim.commands.verilog import design, write
from tessera.sim.tops import TOPS


@pytest.mark.parametrize("name", sorted(TOPS))
def test_generated_verilog_is_clean(name, tmp_path):
    path = write(name, design(name), tmp_path / f"{name}.v")
    assert lint.lint(path) == []


def test_lint_catches_a_real_problem(tmp_path):
    path = tmp_path / "bad.v"
    path.write_text("module bad(input a, output reg y);\n"
                    "  always @* y = y ^ a;\n"  # a combinational loop
                    "endmodule\n")
    assert lint.lint(path)
