"""The table of proofs, gathered from the spec modules beside this one.

Each spec function carries its :class:`~tests.formal.harness.Proof` in a ``@proof(...)``
decorator, with its broken variant (``@breaks(Unit)``) beside it: a new unit needs one spec
module entry, nothing here unless it is a new module (add it to the import below).
"""

from . import (  # noqa: F401  (each registers its proofs)
    spec_link,
    spec_shared,
    spec_sparse,
    spec_system,
    spec_systolic,
    spec_uart,
)
from .harness import KINDS, REGISTRY

__all__ = ["PROOFS", "SLOW_PROOFS"]

_ORDERED = sorted(REGISTRY, key=lambda proof: KINDS.index(proof.kind))  # stable: module order

#: The proofs ``make formal`` and pytest run, grouped by kind.
PROOFS = [proof for proof in _ORDERED if not proof.slow]

#: Proofs that take minutes each on the whole sparse array: ``python -m tests.formal --slow``
#: runs them with the others; pytest and ``make formal`` leave them out.
SLOW_PROOFS = [proof for proof in _ORDERED if proof.slow]
