"""The dense engine: an int8 systolic MAC array (weight- or output-stationary) with its buffers,
accumulator bank, sequencer and post-processing, behind stream interfaces.

The engine's shape: its configuration is :class:`tessera.golden.config.SystolicConfig` (pure
Python, re-exported here), its protocol :mod:`.protocol` (every stream's payload layout), its top
:mod:`.top` (:class:`SystolicGemm`); :mod:`tessera.golden.systolic` is its golden model (operand
order, result order, cycle model) and :mod:`tessera.sim.host.systolic` its host encoder.

============================  ===============================================================
module                        concept
============================  ===============================================================
:mod:`.skew`                  the staircase of delays in front of the array
:mod:`.cell`                  a MAC PE with its weight or result registers
:mod:`.array`                 the R x C grids (weight- and output-stationary)
:mod:`.buffer`                operand buffers filled from streams
:mod:`.accumulator`           the double-buffered accumulator bank (de-skews the bottom edge)
:mod:`.drain`                 bank -> post-processor, with per-column parameters
:mod:`.sequencer`             the schedules that tile a GEMM over the array
:mod:`.protocol`              the payload layouts of the streams
:mod:`.top`                   the engine
============================  ===============================================================
"""

from tessera.golden.config.systolic import SystolicConfig

from .protocol import command_layout, quant_layout
from .top import SystolicGemm

__all__ = ["SystolicConfig", "SystolicGemm", "command_layout", "quant_layout"]
