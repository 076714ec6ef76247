"""The table of proofs, gathered from the spec modules beside this one.

Each spec function carries its :class:`~tests.formal.harness.Proof` in a ``@proof(...)``
decorator, with its broken variant (``@breaks(Unit)``) beside it: a new unit needs one spec
module entry, nothing here unless it is a new module (add it to the import below).
"""

import functools

from . import (  # noqa: F401  (each registers its proofs)
    spec_link,
    spec_shared,
    spec_sparse,
    spec_system,
    spec_systolic,
    spec_uart,
)
from .harness import KINDS, REGISTRY, Proof

__all__ = ["PROOFS", "SLOW_PROOFS", "SLOW_TIGHT", "TIGHT", "tighter"]

_ORDERED = sorted(REGISTRY, key=lambda proof: KINDS.index(proof.kind))  # stable: module order

#: The proofs ``make formal`` and pytest run, grouped by kind.
PROOFS = [proof for proof in _ORDERED if not proof.slow]

#: Proofs that take minutes each on the whole sparse array: ``python -m tests.formal --slow``
#: runs them with the others; pytest and ``make formal`` leave them out.
SLOW_PROOFS = [proof for proof in _ORDERED if proof.slow]


#: The bounds of the progress proofs are the least that hold: one cycle less fails, from
#: reset, within these steps (spec, bound, steps, and the memories the proof starts free).
TIGHT = {
    "uart_rx_resync": (spec_uart.rx_resync_spec, spec_uart.RESYNC_CYCLES, 100, ()),
    "array_progress": (spec_sparse.array_progress_spec, spec_sparse.PROGRESS_CYCLES, 24, ()),
    "detector_progress": (spec_sparse.detector_progress_spec, spec_sparse.DETECTOR_CYCLES, 30,
                          ()),
    "writeback_progress": (spec_sparse.writeback_progress_spec, spec_sparse.WRITEBACK_CYCLES,
                           30, ()),
    "gemm_progress": (spec_systolic.gemm_progress_spec, spec_systolic.TINY_CYCLES, 35, ()),
}
#: The same for the slow proofs (``python -m tests.formal --slow`` checks them).
SLOW_TIGHT = {
    "array_run_progress": (spec_sparse.array_run_progress_spec, spec_sparse.RUN_CYCLES,
                           spec_sparse.RUN_CYCLES + 6, spec_sparse.RUN_FREE_MEMORIES),
    # Each group's bounds, less one (the first instruction's is the one that fails; CONV's
    # and FC's bound is the longest instruction's, not theirs: no check).
    **{f"processor_progress_{group}": (
        functools.partial(spec_system.processor_progress_spec, first=group), 0,
        spec_system.processor_depth(group), ())
       for group in spec_system.PROGRESS_SPLIT if group not in ("conv", "fc")},
}


def tighter(name):
    """The bounded check that ``name``'s bound less one cycle fails (a Proof: it must FAIL)."""
    spec, bound, steps, free = {**TIGHT, **SLOW_TIGHT}[name]
    label = f"bound {bound - 1}" if bound else "its bounds less one"
    return Proof(f"{name}_tighter", label, "bmc", steps,
                 functools.partial(_good_with_bound, spec, bound - 1), kind="progress",
                 free_memories=free)


def _good_with_bound(spec, bound, _variant):
    return spec("good", bound=bound)
