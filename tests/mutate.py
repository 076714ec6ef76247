"""Mutation testing of tessera: apply each mutant to a scratch copy, run the tests that should
catch it, print and write a table (``make mutate``; ``python -m tests.mutate --help``).

Each :class:`Mutant` breaks one behaviour, by exact text replacements in one or more files (a
shared bug edits golden and hardware together; a hardware bug edits hw/ alone; a format bug edits
the host side of a wire format). The anchors are exact strings: if code moves, a mutant whose
anchor is gone is reported ``stale`` (never silently skipped), and is re-anchored by its
description.

The checkout is never written: the tree (``git ls-files``) is copied to a scratch folder, with a
``tessera/`` folder of links that makes ``import tessera.X`` resolve to the copy ahead of the
editable install, and ``TESSERA_BUILD_DIR`` inside the scratch folder (one simulator cache for
the whole run, so unmutated designs are built once). Tests run with one worker, ``-x``.

A mutant is *caught* when its tests fail (exit status 1), *survived* when they pass, *error* when
pytest could not run them (collection error or no test selected: exit 2..5). Before the mutants
the unmutated tree runs every test the list names: a failure there makes the run invalid. Each
mutant's pytest output is kept in ``SCRATCH/logs/NAME.txt``; the printed line shows its first
assertion, so that a mutant "caught" by a crash rather than a comparison is seen.
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hw", "golden", "sim", "boards")

SPARSE = "tests/hw/test_sparse.py"
SYSTOLIC = "tests/hw/test_systolic.py"
POSTPROC = "tests/hw/test_postproc.py"


@dataclass(frozen=True)
class Mutant:
    """One bug: ``edits`` are ``(path, old, new)`` exact replacements (``old`` occurs once)."""

    name: str
    kind: str           # "shared" (golden and hw), "hw", "golden", "format"
    what: str           # the behaviour it breaks
    edits: tuple
    tests: tuple        # pytest arguments: node ids, files, "-k" expressions
    issue: bool = False  # one of the mutants issue 16 reported


def _k(path, expr):
    return (path, "-k", expr)


MUTANTS = [
    # -- the mutants of issue 16 ----------------------------------------------------------------
    Mutant("ties-down-shared", "shared",
           "requantization rounds exact ties toward -infinity, in golden and in the "
           "post-processor alike",
           (("golden/quant.py", "    return (t + half) >> shift",
             "    return (t + half - (shift > 0)) >> shift"),
            ("hw/postproc.py", "s5_shifted.eq((s4_product << 1) >> s4_shift),",
             "s5_shifted.eq(((s4_product - (s4_shift != 0)) << 1) >> s4_shift),")),
           ("tests/golden/test_requant_reference.py",), issue=True),
    Mutant("no-clamp-low", "hw", "the post-processor never saturates to -128 (it wraps)",
           (("hw/postproc.py", "with m.Elif(s6_rounded < -128):", "with m.Elif(C(0)):"),),
           _k(SPARSE, "saturating_corners and default and icarus"), issue=True),
    Mutant("no-clamp-high", "hw", "the post-processor never saturates to 127 (it wraps)",
           (("hw/postproc.py", "with m.Elif(s6_rounded > 127):", "with m.Elif(C(0)):"),),
           _k(SPARSE, "saturating_corners and odd and icarus"), issue=True),
    Mutant("product-narrow", "hw",
           "the sparse PE's product is one bit too narrow: -128 x -128 wraps to -16384",
           (("hw/sparse/arith.py", "product_shape = signed(cfg.weight_width + ACT_WIDTH)",
             "product_shape = signed(cfg.weight_width + ACT_WIDTH - 1)"),),
           _k(SPARSE, "saturating_corners and default and icarus"), issue=True),
    Mutant("run-bases-swapped", "hw",
           "the sparse PE takes its pointer base from the RUN command's parameter-base field "
           "(the host now packs RUN through the same layout, so swapping the layout's fields "
           "is no longer a bug)",
           (("hw/sparse/pe.py", "pointers.base.eq(self.layer.ptr_base)",
             "pointers.base.eq(self.layer.param_base)"),),
           _k(SPARSE, "resident_layers and default"), issue=True),
    # -- shared bugs (golden and hardware, or golden and the host encoder the hardware reads) --
    Mutant("saturate-126-shared", "shared",
           "requantization saturates at 126 instead of 127, in golden and hardware",
           (("golden/quant.py", "    return np.clip(r, INT8_MIN, INT8_MAX).astype(np.int8)",
             "    return np.clip(r, INT8_MIN, INT8_MAX - 1).astype(np.int8)"),
            ("hw/postproc.py",
             "with m.Elif(s6_rounded > 127):\n                m.d.sync += self.o.payload.eq(127)",
             "with m.Elif(s6_rounded > 126):\n                m.d.sync += self.o.payload.eq(126)")),
           ("tests/golden/test_requant_reference.py",)),
    Mutant("bias-ignored-shift0-shared", "shared",
           "with shift 0 the bias is not added, in golden and hardware",
           (("golden/quant.py", "    r = rounding_shift((acc + bias) * multiplier, shift)",
             "    r = rounding_shift((acc + np.where(shift > 0, bias, 0)) * multiplier, shift)"),
            ("hw/postproc.py", "s1_sum.eq(p.acc + Mux(p.raw, 0, p.bias)),",
             "s1_sum.eq(p.acc + Mux(p.raw | (p.shift == 0), 0, p.bias)),")),
           ("tests/golden/test_requant_reference.py",)),
    Mutant("eie-pad-early", "shared",
           "the EIE encoder pads a zero run one row early (still decodable: golden and "
           "hardware agree)",
           (("golden/eie.py", "    span = 2**rel_bits\n", "    span = 2**rel_bits - 1\n"),),
           ("tests/golden/test_eie.py",)),
    Mutant("acc-width-short", "shared",
           "the narrowest accumulator width for K products is one bit short (golden config, "
           "used by the hardware)",
           (("golden/config/systolic.py", "    return (k * MAX_PRODUCT).bit_length() + 1",
             "    return (k * MAX_PRODUCT).bit_length()"),),
           ("tests/golden/test_systolic_cycles.py",)),
    Mutant("writeback-cycles", "golden",
           "the sparse cycle model counts one write-back cycle too few",
           (("golden/sparse_cycles.py", "WRITEBACK_OVERHEAD = 2 + POSTPROC_LATENCY + 1",
             "WRITEBACK_OVERHEAD = 2 + POSTPROC_LATENCY"),),
           ("tests/golden/test_sparse_cycles.py",)),
    Mutant("drain-latency", "golden",
           "the systolic cycle model's drain latency is one cycle short",
           (("golden/systolic.py", "DRAIN_LATENCY = POSTPROC_LATENCY + 4",
             "DRAIN_LATENCY = POSTPROC_LATENCY + 3"),),
           _k(SYSTOLIC, "test_systolic and ws2x3 and icarus and random_gemms")),
    Mutant("huffman-canonical", "golden",
           "canonical Huffman codes skip a code word when the length grows",
           (("golden/huffman.py", "        code <<= int(lengths[s]) - previous",
             "        code = (code + (lengths[s] != previous)) << (int(lengths[s]) - previous)"),),
           ("tests/golden/test_huffman.py",)),
    # -- wire formats -------------------------------------------------------------------------
    Mutant("entry-fields-swapped", "format",
           "the host packs a matrix entry's relative index below its codebook index",
           (("golden/eie.py", "    fields[: v.size] = v | (z << index_bits)",
             "    fields[: v.size] = z | (v << rel_bits)"),),
           _k(SPARSE, "test_random_layers and default and icarus")),
    Mutant("params-multiplier-from-shift", "hw",
           "the write-back hands the post-processor the shift field as the multiplier",
           (("hw/sparse/writeback.py", "pp.i.payload.multiplier.eq(stage_params.multiplier),",
             "pp.i.payload.multiplier.eq(stage_params.shift),"),),
           _k(SPARSE, "saturating_corners and default and icarus")),
    # -- the post-processor alone -------------------------------------------------------------
    Mutant("relu-ignored", "hw", "the post-processor ignores the ReLU flag",
           (("hw/postproc.py", "with m.Elif(s6_relu & negative):",
             "with m.Elif(C(0)):"),),
           _k(POSTPROC, "icarus")),
    Mutant("bias-add-wraps", "hw", "the bias add is as wide as the accumulator (it can wrap)",
           (("hw/postproc.py", "s1_sum = Signal(signed(w + 1))", "s1_sum = Signal(signed(w))"),),
           _k(POSTPROC, "icarus")),
    Mutant("raw-biased", "hw", "a raw output takes the bias (raw goes through the arithmetic)",
           (("hw/postproc.py", "s1_sum.eq(p.acc + Mux(p.raw, 0, p.bias)),",
             "s1_sum.eq(p.acc + p.bias),"),),
           _k(POSTPROC, "icarus")),
    Mutant("outside-ignored", "hw",
           "the post-processor keeps acc_width + 1 bits of the shifted value and forgets that "
           "it was outside them (a large value wraps instead of saturating)",
           (("hw/postproc.py", "s6_outside.eq(s5_high.any() & ~s5_high.all()),",
             "s6_outside.eq(0),"),),
           _k(POSTPROC, "icarus")),
    Mutant("high-product-unsigned", "hw",
           "the post-processor's high partial product is taken as unsigned",
           (("hw/postproc.py",
             "self._multiply(m, platform, advance, s1_sum[low_bits:].as_signed(), s1_multiplier,",
             "self._multiply(m, platform, advance, s1_sum[low_bits:], s1_multiplier,"),),
           _k(POSTPROC, "icarus")),
    # -- the sparse engine alone ----------------------------------------------------------------
    Mutant("writeback-reads-next-pe", "hw",
           "the shared write-back takes the accumulator of the PE it reads next, not of the one "
           "whose read is at the ports",
           (("hw/sparse/writeback.py", "acc_data = Array(self.acc_data)[held_pe] if n > 1",
             "acc_data = Array(self.acc_data)[rd_pe] if n > 1"),),
           _k(SPARSE, "test_random_layers and default and icarus")),
    Mutant("writeback-dst-pe0", "hw",
           "the shared write-back writes every PE's destination buffer at once, when PE 0's "
           "row leaves, and none of them for the other PEs' rows",
           (("hw/sparse/writeback.py", "(out_pe == k)", "(out_pe == 0)"),),
           _k(SPARSE, "swapped_layers and default and icarus")),
    Mutant("no-forwarding", "hw",
           "the sparse accumulator loses the one-cycle-old write (read-after-write hazard)",
           (("hw/sparse/arith.py", "old.eq(Mux(fwd1_valid & (fwd1_row == row), fwd1_sum,",
             "old.eq(Mux(C(0), fwd1_sum,"),),
           _k(SPARSE, "test_random_layers and default and icarus")),
    Mutant("relative-index-off", "hw",
           "the address unit steps z rows after an entry instead of z + 1",
           (("hw/sparse/address.py", "m.d.sync += [next_local.eq(local + 1), "
             "next_global.eq(glob + n)]",
             "m.d.sync += [next_local.eq(local), next_global.eq(glob)]"),),
           _k(SPARSE, "test_random_layers and default and icarus")),
    Mutant("empty-columns-kept", "hw",
           "the pointer unit no longer drops empty columns (one idle cycle each)",
           (("hw/sparse/pointer.py",
             "drop.eq(valid & ((end <= start) | (end > cfg.capacity))),",
             "drop.eq(valid & ((end < start) | (end > cfg.capacity))),"),),
           _k(SPARSE, "test_random_layers and default and icarus")),
    Mutant("row-range-inclusive", "hw",
           "the address unit accepts an entry on the row just past the layer's last",
           (("hw/sparse/address.py", "beyond.eq(global_row >= self.rows),",
             "beyond.eq(global_row > self.rows),"),),
           _k(SPARSE, "test_directed and default and icarus and bad_input")),
    # -- the sparse array's registered broadcast (issue 12) --------------------------------------
    Mutant("broadcast-unregistered", "hw",
           "the broadcast decides from this cycle's almost-full flags (its `go` flip-flop "
           "removed): sends a cycle earlier than the model",
           (("hw/sparse/broadcast.py", "m.d.sync += go.eq(~self.almost_full.any())",
             "m.d.comb += go.eq(~self.almost_full.any())"),),
           _k(SPARSE, "test_directed and default and icarus and almost_full_queue")),
    Mutant("almost-full-late", "hw",
           "a queue registers its almost-full flag from last cycle's level, a cycle late",
           (("hw/sparse/queue.py", "m.d.sync += self.almost_full.eq(level_next >= self.depth - 1)",
             "m.d.sync += self.almost_full.eq(queue.level >= self.depth - 1)"),),
           _k(SPARSE, "test_directed and default and icarus and almost_full_queue")),
    Mutant("room-for-one", "shared",
           "the broadcast sends while every queue has room for one (hardware and model): the "
           "pair sent in the cycle before overfills a queue",
           (("hw/sparse/queue.py", "m.d.sync += self.almost_full.eq(level_next >= self.depth - 1)",
             "m.d.sync += self.almost_full.eq(level_next >= self.depth)"),
            ("golden/sparse_cycles.py", "broadcast = max(earliest, int(ahead.max()) + 2)",
             "broadcast = max(earliest, int(ahead.max()) + 1)")),
           _k(SPARSE, "test_directed and default and icarus and almost_full_queue")),
    Mutant("first-cycle-flags", "golden",
           "the model forgets that a non-zero offered straight after the last one meets flags "
           "that predate its write",
           (("golden/sparse_cycles.py",
             "np.greater_equal(popped[m - depth], offered - 1, out=blocked)",
             "np.greater_equal(popped[m - depth], offered, out=blocked)"),),
           ("tests/golden/test_sparse_cycles.py",)),
    # -- the systolic engine alone -------------------------------------------------------------
    Mutant("weight-unsigned", "hw", "the systolic PE multiplies by the weight as unsigned",
           (("hw/pe.py", "m.d.sync += [stage.eq(a * w), product.eq(stage)]",
             "m.d.sync += [stage.eq(a * w.as_unsigned()), product.eq(stage)]"),),
           _k(SYSTOLIC, "test_systolic and ws2x3 and icarus and random_gemms")),
    Mutant("os-accumulate-clear", "hw",
           "an output-stationary PE's first product is added to the stale accumulator",
           (("hw/pe.py", "m.d.sync += self.acc.eq(Mux(en[-1], product, 0))",
             "m.d.sync += self.acc.eq(self.acc + Mux(en[-1], product, 0))"),),
           _k(SYSTOLIC, "test_systolic and os3x5 and icarus and random_gemms")),
    Mutant("booth-two", "hw",
           "the Booth LUT multiplier mistakes one digit pattern for +-2",
           (("hw/pe.py", "two = (b_1 & ~b_0 & ~b_m1) | (~b_1 & b_0 & b_m1)",
             "two = (b_1 & ~b_0 & ~b_m1)"),),
           ("tests/hw/test_systolic.py::test_systolic_lut_multipliers",)),
    # -- the PE's pipeline (issue 12): one stage fewer in the hardware, or in the model alone --
    Mutant("pe-stage-missing", "hw",
           "the PE multiplies straight into its product register: one stage fewer than "
           "MACPE.LATENCY says (the multiplier's own stage, the DSP's output register, is gone)",
           (("hw/pe.py", "m.d.sync += [stage.eq(a * w), product.eq(stage)]",
             "m.d.sync += product.eq(a * w)"),),
           _k(SYSTOLIC, "test_systolic and ws2x3 and icarus and random_gemms")),
    Mutant("booth-stage-missing", "hw",
           "the Booth LUT multiplier adds its four partial products in one stage (one fewer)",
           (("hw/pe.py",
             "m.d.sync += [low.eq(p0 + p1), high.eq(p2 + p3), product.eq(low + high)]",
             "m.d.sync += product.eq(p0 + p1 + p2 + p3)"),),
           ("tests/hw/test_systolic.py::test_systolic_lut_multipliers",)),
    # -- the output path's lanes (issue 10): (name, what, file, anchor, mutation, tests) -----
    *(Mutant(name, "hw", what, ((path, anchor, mutation),), tests)
      for name, what, path, anchor, mutation, tests in (
          ("drain-reads-early", "the drain reads the group being finished without waiting for "
           "its rows' final sums", "hw/systolic/drain.py",
           "ready = full.bit_select(bank, 1) | ((fill == bank) & row_ok)",
           "ready = full.bit_select(bank, 1) | (fill == bank)",
           _k(SYSTOLIC, "test_systolic and ws2x3 and icarus and random_gemms")),
          ("word-lanes-full", "every result word claims all its lanes, the last word of a row "
           "at the right edge too", "hw/systolic/drain.py",
           "n1.eq(Mux(last_word, cols_left + 1, lanes))", "n1.eq(lanes)",
           _k(SYSTOLIC, "test_systolic and os3x5 and icarus and random_gemms")),
          ("write-every-lane", "the system writes every lane of a result word into the "
           "activation memory", "hw/system/processor.py",
           "act.w_mask.eq(Cat(j < word.n for j in range(sys.lanes)))",
           "act.w_mask.eq(Cat(C(1, 1) for j in range(sys.lanes)))",
           _k("tests/hw/test_system.py", "write_only_their_lanes and 2-lane and icarus")))),
    # -- codebooks on chip, full ACT lanes, resident FC inputs (issue 10's control target) ------
    Mutant("codebook-slot-ignored", "hw",
           "every PE decodes through codebook slot 0, whatever slot the RUN names",
           (("hw/sparse/pe.py", "codebook.slot.eq(self.layer.codebook),",
             "codebook.slot.eq(0),"),),
           _k("tests/hw/test_system.py", "random_networks and icarus")),
    Mutant("act-one-lane-a-pe", "hw",
           "a PE takes its first lane of an ACT command for every local address it writes",
           (("hw/sparse/pe.py", "mine = [self.pe % group + group * s for s in range(span)]",
             "mine = [self.pe % group for s in range(span)]"),),
           _k(SPARSE, "random_layers and default and icarus and not backpressure")),
    Mutant("resident-ignored", "hw",
           "the processor sends a resident FC's activations anyway (values right, cycles not)",
           (("hw/system/processor.py",
             "state.eq(Mux(fc.resident, _State.FC_RUN, _State.FC_ACT)),",
             "state.eq(_State.FC_ACT),"),),
           _k("tests/hw/test_system.py", "random_networks and icarus")),
    Mutant("pe-latency-short", "golden",
           "the systolic cycle model takes a PE one stage shorter than the hardware's",
           (("golden/mac.py", "PE_LATENCY = 4", "PE_LATENCY = 3"),),
           _k(SYSTOLIC, "test_systolic and os3x5 and icarus and random_gemms")),
]


def _copy_tree(dest):
    """Copy the checkout's files (tracked and untracked, not ignored) into ``dest``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    # `import tessera.hw` resolves here (sys.path) ahead of the editable install's finder.
    (dest / "tessera").mkdir(exist_ok=True)
    for package in PACKAGES:
        link = dest / "tessera" / package
        if not link.exists():
            link.symlink_to(Path("..") / package)


def _apply(tree, mutant):
    """Apply ``mutant``; return the originals to restore, or None (and restore) if stale."""
    saved = {}
    for path, old, new in mutant.edits:
        file = tree / path
        text = saved.get(path) or file.read_text()
        saved.setdefault(path, text)
        current = file.read_text()
        if current.count(old) != 1:
            _restore(tree, saved)
            return None
        file.write_text(current.replace(old, new))
    return saved


def _restore(tree, saved):
    for path, text in saved.items():
        (tree / path).write_text(text)


def _pytest(tree, build, args, timeout):
    env = dict(os.environ, TESSERA_BUILD_DIR=str(build), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
               "-q", "-x", "--no-header", *args]
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True,
                              timeout=timeout)
        code, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        code = "timeout"
        out = f"timed out after {timeout} s\n{expired.stdout or ''}"
    return code, time.monotonic() - start, out


def _why(out):
    """The first failure message of a pytest log, shortened (to see what failed, and how)."""
    for pattern in _MESSAGES:
        match = pattern.search(out)
        if match:
            return match.group(0).strip()[:160]
    return ""


_MESSAGES = [re.compile(p, re.MULTILINE) for p in (
    r"(output mismatch|element \d+ of|result \d+ of|the cycle counter reads|waited \d+ cycles|"
    r"\d+ of \d+ differ)[^|\n]*",
    r"(AssertionError|TesseraError): \S[^|\n]*",
    r"(Failed: |Mismatched elements|Mismatch at)[^|\n]*",
    r"^E\s+assert [^\n]*",
)]


def _verdict(code):
    if code == 1 or code == "timeout":
        return "caught"
    return "survived" if code == 0 else "error"


def _table(rows, title):
    lines = [title, "",
             "| mutant | kind | breaks | tests | result | s | first failure |",
             "|---|---|---|---|---|---|---|"]
    for m, verdict, seconds, why in rows:
        mark = " (issue 16)" if m.issue else ""
        why = why.replace("|", "/").replace("`", "'")[:110]
        lines.append(f"| `{m.name}`{mark} | {m.kind} | {m.what} | `{' '.join(m.tests)}` | "
                     f"{verdict} | {seconds:.0f} | {why} |")
    caught = sum(r[1] == "caught" for r in rows)
    counted = sum(r[1] in ("caught", "survived") for r in rows)
    score = 100.0 * caught / counted if counted else 0.0
    lines += ["", f"Caught {caught} of {counted} mutants that ran: {score:.1f}% "
              f"({len(rows) - counted} stale or error)."]
    return "\n".join(lines) + "\n", score


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.mutate", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="scratch folder (default: a new one under $TMPDIR); it is kept")
    parser.add_argument("--output", type=Path, default=None,
                        help="table file (default: SCRATCH/mutation-table.md)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the unmutated run of the tests (not for published tables)")
    parser.add_argument("--fail-under", type=float, default=0.0,
                        help="exit 1 when the score (percent caught) is below this")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per mutant")
    parser.add_argument("--tests", nargs=argparse.REMAINDER, default=None,
                        help="run these pytest arguments instead of each mutant's own (to show "
                             "which tests miss a mutant); must come last")
    args = parser.parse_args(argv)

    known = {m.name: m for m in MUTANTS}
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:28} {m.kind:7} {m.what}")
        return 0
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"mutate: unknown mutant {unknown[0]!r} (--list lists them)", file=sys.stderr)
        return 2
    mutants = [known[n] for n in args.names] if args.names else MUTANTS
    if args.tests:
        mutants = [replace(m, tests=tuple(args.tests)) for m in mutants]

    scratch = (args.scratch or Path(tempfile.mkdtemp(prefix="tessera-mutate-"))).resolve()
    if scratch == ROOT or ROOT in scratch.parents:
        print("mutate: the scratch folder must lie outside the checkout", file=sys.stderr)
        return 2
    tree, build = scratch / "tree", scratch / "build"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    build.mkdir(exist_ok=True)
    _copy_tree(tree)
    logs = scratch / "logs"
    logs.mkdir(exist_ok=True)
    print(f"mutate: scratch copy in {tree}, simulator builds in {build}", flush=True)

    if not args.no_baseline:
        union = []
        for m in mutants:
            for group in _split_args(m.tests):
                if group not in union:
                    union.append(group)
        for group in union:
            code, seconds, out = _pytest(tree, build, group, args.timeout)
            print(f"  baseline {' '.join(group)}: exit {code} ({seconds:.0f} s)", flush=True)
            if code != 0:
                print(out[-3000:], file=sys.stderr)
                print("mutate: the unmutated tree fails these tests; no table", file=sys.stderr)
                return 1

    rows = []
    for m in mutants:
        saved = _apply(tree, m)
        if saved is None:
            rows.append((m, "stale", 0.0, ""))
            print(f"{m.name:28} stale (an anchor is gone or not unique)", flush=True)
            continue
        try:
            code, seconds, out = _pytest(tree, build, list(m.tests), args.timeout)
        finally:
            _restore(tree, saved)
        verdict = _verdict(code)
        rows.append((m, verdict, seconds, _why(out) if verdict == "caught" else ""))
        (logs / f"{m.name}.txt").write_text(out)
        print(f"{m.name:28} {verdict:9} exit {code} ({seconds:.0f} s) {_why(out)}", flush=True)
        if verdict == "error":
            print("\n".join(out.splitlines()[-15:]), flush=True)

    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["python -m tests.mutate", *args.names,
                        *(["--tests", *args.tests] if args.tests else [])])
    text, score = _table(rows, f"Mutation run of {date}: `{command}`")
    output = args.output or scratch / "mutation-table.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print()
    print(text)
    print(f"mutate: table written to {output}")
    return 1 if score < args.fail_under else 0


def _split_args(tests):
    """Split a mutant's pytest arguments into runnable groups (a path and its ``-k``)."""
    groups, current = [], []
    items = list(tests)
    i = 0
    while i < len(items):
        if items[i] == "-k":
            current += items[i:i + 2]
            i += 2
            continue
        if current:
            groups.append(tuple(current))
        current = [items[i]]
        i += 1
    if current:
        groups.append(tuple(current))
    return [list(g) for g in groups]


if __name__ == "__main__":
    sys.exit(main())
