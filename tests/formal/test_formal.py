"""Run every formal proof: each must pass on its unit and fail on its unit's broken variant.

One test per proof (so that pytest-xdist spreads them over the cores); ``make formal`` runs the
same table and prints it. See docs/formal.md.
"""

import pytest

from .harness import KINDS, Proof, find, run, run_many, tools_missing
from .proofs import PROOFS, SLOW_PROOFS, SLOW_TIGHT, TIGHT, tighter


@pytest.mark.parametrize("proof", PROOFS, ids=[p.name for p in PROOFS])
def test_proof(proof):
    missing = tools_missing()
    assert not missing, f"missing formal tools {missing}: run make setup"
    good, broken = run_many([(proof, "good"), (proof, "broken")], parallel=2)
    assert good.status == "PASS", (
        f"{proof.name} on {proof.unit}: {good.status} ({proof.mode}, depth {proof.depth}); "
        f"logs and trace in {good.folder}")
    assert broken.status == "FAIL", (
        f"{proof.name}: the broken variant ({proof.broken}) gave {broken.status}, not FAIL: "
        f"the property does not catch it; logs in {broken.folder}")


@pytest.mark.parametrize("name", sorted(TIGHT))
def test_progress_bound_is_tight(name):
    result = run(tighter(name))
    assert result.status == "FAIL", (
        f"{name} also holds with one cycle less: {result.status}; see {result.folder}")


def test_proof_table_is_well_formed():
    proofs = PROOFS + SLOW_PROOFS
    names = [p.name for p in proofs]
    assert len(set(names)) == len(names), "two proofs share a name"
    assert [KINDS.index(p.kind) for p in PROOFS] == sorted(KINDS.index(p.kind) for p in PROOFS)
    for proof in proofs:
        assert proof.covers and proof.broken, f"{proof.name} lacks its description"
        assert proof.depth >= 1
        if proof.mode == "bmc":
            assert proof.why_bounded, f"{proof.name} is bounded without saying why"
    for check in {**TIGHT, **SLOW_TIGHT}:
        name = check.split(":")[0]
        assert name in names, f"the tightness check {check} has no proof"
        assert (check in SLOW_TIGHT) == any(p.slow for p in proofs if p.name == name), check


def test_proof_rejects_unknown_mode_and_kind():
    with pytest.raises(ValueError, match=r"^mode must be one of"):
        Proof("x", "unit", "simulate", 1, spec=None)
    with pytest.raises(ValueError, match=r"^kind must be one of"):
        Proof("x", "unit", "bmc", 1, spec=None, kind="speed")


def test_find_names_a_missing_signal():
    from amaranth import Module, Signal

    m = Module()
    a = Signal(name="a")
    m.d.comb += a.eq(1)
    assert find(m, "a") is a
    with pytest.raises(LookupError, match=r"^no signal 'b' assigned"):
        find(m, "b")
