"""The dense engine: an int8 systolic MAC array (weight- or output-stationary) with its buffers,
accumulator bank, sequencer and post-processing, behind stream interfaces.

The top is :class:`~tessera.hw.systolic.top.SystolicGemm`; :mod:`tessera.golden.systolic` is its
contract
(operand layouts, result order, cycle model).

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
:mod:`.top`                   the engine and its host interface
============================  ===============================================================
"""

from .top import SystolicGemm, command_layout, quant_layout

__all__ = ["SystolicGemm", "command_layout", "quant_layout"]
