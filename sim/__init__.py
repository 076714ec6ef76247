"""The bridge between the golden models and the hardware.

- :mod:`sim.runner`: Amaranth component -> Verilog (cached) -> cocotb test on Icarus or Verilator.
- :mod:`sim.toolchain`: where the simulators and synthesis tools are and how to call them.
- :mod:`sim.cocotb`: helpers for the cocotb side (parameters, clock and reset, reports).
- :mod:`sim.cli`: the ``tessera`` command-line tool; :mod:`sim.bench`: ``make bench``.
"""
