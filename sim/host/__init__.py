"""The host side of tessera's engines and system: inputs in, command words out, results back.

One module per engine, shared by co-simulation (:mod:`tessera.sim.cosim`) today and a serial
link to a board later: :mod:`.sparse` (:class:`~.sparse.Program`, the sparse PE array's command
streams, and its STATS readout) and :mod:`.systolic` (the GEMM engine's command, operand and
parameter words). Every word is built from the engine's protocol layouts
(:mod:`tessera.hw.sparse.protocol`, :mod:`tessera.hw.systolic.protocol`) with
``layout.const({...})`` and read back through them (:mod:`.words`): no shift or mask spells a
field's position anywhere else.

:mod:`.system` packs the system's instructions (:mod:`tessera.golden.isa`) through the layouts of
:mod:`tessera.hw.system.protocol` and reads its output words back.
"""
