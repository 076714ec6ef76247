"""The bridge between the golden models and the hardware.

- :mod:`tessera.sim.runner`: Amaranth component -> Verilog (cached) -> cocotb test on Icarus or
  Verilator.
- :mod:`tessera.sim.toolchain`: where the simulators and synthesis tools are and how to call them.
- :mod:`tessera.sim.cocotb`: helpers for the cocotb side (parameters, clock and reset, reports).
- :mod:`tessera.sim.cli`: the ``tessera`` command-line tool; :mod:`tessera.sim.bench`: ``make
  bench``.
"""
