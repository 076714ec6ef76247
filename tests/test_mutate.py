"""A fast self-test of the mutation run (tests/mutate.py; the full run is `make mutate`): the
unmutated tree passes, one shared mutant is caught, a moved anchor is reported stale."""

from tests import mutate


def test_one_mutant_is_caught_and_the_clean_tree_passes(tmp_path):
    table = tmp_path / "table.md"
    code = mutate.main(["ties-down-shared", "--scratch", str(tmp_path / "scratch"),
                        "--output", str(table), "--fail-under", "100",
                        "--tests", "tests/golden/test_requant_reference.py", "-k",
                        "at_ties and 17"])
    assert code == 0  # the baseline passed (else 1) and the score is 100%
    text = table.read_text()
    assert "| `ties-down-shared` (issue 16) | shared |" in text and "| caught |" in text
    assert "Caught 1 of 1 mutants" in text
    # The checkout itself was never touched.
    assert "return (t + half) >> shift" in (mutate.ROOT / "golden/quant.py").read_text()


def test_a_moved_anchor_is_stale_not_skipped(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    gone = mutate.Mutant("gone", "hw", "nothing", (("a.py", "x = 2", "x = 3"),), ())
    twice = mutate.Mutant("twice", "hw", "nothing", (("a.py", "x", "y"),), ())
    assert mutate._apply(tmp_path, gone) is None
    (tmp_path / "a.py").write_text("x = 1\nx = 1\n")
    assert mutate._apply(tmp_path, twice) is None
    assert (tmp_path / "a.py").read_text() == "x = 1\nx = 1\n"


def test_every_mutant_names_its_tests_and_a_known_kind():
    names = [m.name for m in mutate.MUTANTS]
    assert len(names) == len(set(names)) >= 20
    assert sum(m.issue for m in mutate.MUTANTS) == 5
    for m in mutate.MUTANTS:
        assert m.kind in ("shared", "hw", "golden", "format") and m.tests and m.edits, m.name
        for path, old, _ in m.edits:
            assert (mutate.ROOT / path).read_text().count(old) == 1, (m.name, path)
