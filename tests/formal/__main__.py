"""``python -m tests.formal``: run every proof and its broken variant, print the table.

Exit status 0 when every proof passes and every broken variant fails, 1 otherwise, 2 when the
tools are missing. ``-k TEXT`` keeps the proofs whose name contains TEXT; ``-j N`` runs N at
once (default 2, the machine's cores).
"""

import argparse
import sys

from .harness import run_many, tools_missing
from .proofs import PROOFS, SLOW_PROOFS, SLOW_TIGHT, tighter


def table(results, proofs=PROOFS + SLOW_PROOFS):
    """Return the results as a text table, one line per proof (its broken variant beside)."""
    rows = [("property", "unit", "mode", "depth", "result", "time", "broken variant")]
    by_proof = {}
    for result in results:
        by_proof.setdefault(result.proof.name, {})[result.variant] = result
    for proof in proofs:
        runs = by_proof.get(proof.name)
        if not runs:
            continue
        good, broken = runs.get("good"), runs.get("broken")
        rows.append((
            proof.name, proof.unit, proof.mode, str(proof.depth),
            good.status if good else "-",
            f"{good.seconds:.1f} s" if good else "-",
            f"{broken.status} in {broken.seconds:.1f} s" if broken else "-",
        ))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.formal", description=__doc__)
    parser.add_argument("-k", default="", help="run only proofs whose name contains this")
    parser.add_argument("-j", type=int, default=2, help="proofs run at once (default 2)")
    parser.add_argument("--slow", action="store_true",
                        help="also run the slow proofs on the whole sparse array (minutes)")
    parser.add_argument("--no-broken", action="store_true",
                        help="skip the broken variants")
    args = parser.parse_args(argv)
    missing = tools_missing()
    if missing:
        print(f"tessera formal: missing tools: {', '.join(missing)} (run make setup)",
              file=sys.stderr)
        return 2
    table_proofs = PROOFS + (SLOW_PROOFS if args.slow else [])
    proofs = [p for p in table_proofs if args.k in p.name]
    jobs = [(p, "good") for p in proofs]
    if not args.no_broken:
        jobs += [(p, "broken") for p in proofs]
    # The slow proofs' bounds, one cycle less, must fail (pytest checks the others' bounds).
    tight = [tighter(name) for name in SLOW_TIGHT if args.slow and args.k in name]
    results = run_many(jobs + [(proof, "broken") for proof in tight], parallel=args.j)
    print(table(results))
    for result in results[len(jobs):]:
        print(f"{result.proof.name} ({result.proof.unit}): {result.status} in "
              f"{result.seconds:.1f} s (must fail)")
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"{r.proof.name} ({r.variant}): {r.status}, expected {r.expected}; see {r.folder}",
              file=sys.stderr)
    print(f"formal: {len(results) - len(bad)} runs as expected, {len(bad)} not")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
