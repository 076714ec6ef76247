"""The tessera system: both engines behind one command stream (see ``docs/system.md``).

:mod:`.protocol` holds the wire format of the ``cmd`` and ``o`` streams, as layouts built from
the instruction set in :mod:`tessera.golden.isa`; :mod:`.pool` is the max-pool unit and
:mod:`.im2col` the im2col address generator of the systolic ``a`` stream; :mod:`.check` is the
command processor's header check (the error bits).
"""
