"""The host side: instructions in, command words out, results back.

:mod:`.system` packs the system's instructions (:mod:`tessera.golden.isa`) through the layouts of
:mod:`tessera.hw.system.protocol` and reads its output words back.
"""
