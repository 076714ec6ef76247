"""Amaranth component -> Verilog -> cocotb test on Icarus or Verilator.

One small API::

    from tessera.sim.runner import Design, simulate

    design = Design(MACPE, acc_width=32)
    result = simulate(design, "tests.hw.tb_pe", sim="verilator", params={"n": 1000})
    result.report["cycles"]

- A :class:`Design` is a component factory (usually the class) and the parameters that build it.
  Its Verilog is generated once per distinct design and cached under
  ``<cache>/sim/<name>-<key>/top.v`` (``<cache>`` is ``$TESSERA_BUILD_DIR`` or the user's cache
  folder, see :mod:`tessera.sim.cache`); the key hashes the factory, the parameters, the Amaranth
  version and the source of every project module the factory's module imports, directly or not
  (so an edit in one engine leaves the other engines' builds and synthesis results cached).
- The simulator build (Icarus' ``sim.vvp``, Verilator's executable) is cached beside it, one per
  simulator, and guarded by a file lock so that ``pytest -n`` workers never build the same design
  twice at once. Both are verified against digests on every use and rebuilt when damaged.
- Every :func:`simulate` call runs in a fresh run folder, removed afterwards (kept with
  ``TESSERA_KEEP_RUNS=1`` or ``WAVES=1``). Its parameters (JSON) and input arrays
  (``.npz``) reach the cocotb side through that folder, not through global state; the cocotb side
  reads them with :mod:`tessera.sim.tb` and writes back a report and output arrays the same way.
- The simulator is named by ``sim=`` or by the usual cocotb variable ``SIM`` (``icarus`` by
  default). ``clock_ns=`` runs the design's clock inside the simulator instead of cocotb's GPI
  clock (:mod:`tessera.sim.simclock`; a build of its own, ``<sim>-clock<period>ns``).
  ``WAVES=1`` writes an FST waveform into the run folder and prints its path.
- A failing cocotb test raises :class:`SimulationFailed` naming the failed tests, the random seed
  (rerun with ``COCOTB_RANDOM_SEED=<seed>``) and the tail of the simulator log; its first line
  says what happened (the command-line tool prints that line). A simulator that crashes also
  drops its build's stamp, so the next run rebuilds it.
"""

import ast
import contextlib
import functools
import hashlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tessera.golden.errors import TesseraError

from . import cache, simclock, toolchain

TOPLEVEL = "top"
_RUN_DIR_ENV = "TESSERA_RUN_DIR"
#: Set to keep every run folder (they are removed after each run, failed or not, otherwise).
_KEEP_RUNS_ENV = "TESSERA_KEEP_RUNS"


class SimulationFailed(AssertionError):
    """A cocotb test failed, or the simulator did not finish."""


def build_root():
    """Return the folder for cached artefacts: ``$TESSERA_BUILD_DIR``, else the user's cache
    folder (``$XDG_CACHE_HOME/tessera`` or ``~/.cache/tessera``; see :mod:`tessera.sim.cache`)."""
    return cache.cache_root()


#: The project's namespace: a design's cache key covers the modules under it that it imports.
_PROJECT = "tessera"


def _imported_names(path, package):
    """The absolute names of the project modules that the source file ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            # ``from package import module`` imports a module, not only a name.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] == _PROJECT}


@functools.cache
def _module_closure(module):
    """The source files of the project module ``module`` and of every project module it imports,
    directly or not, with the ``__init__`` of every package on the way (sorted paths)."""
    seen, files, todo = set(), set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))   # parent packages
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue                                  # a name imported from a module, not one
        path = Path(spec.origin)
        files.add(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo.extend(_imported_names(path, package))
    return tuple(sorted(files))


def _source_digest(module):
    """A hash of the Amaranth version and the sources ``module`` is built from."""
    import amaranth

    digest = hashlib.sha256(f"amaranth {amaranth.__version__}".encode())
    for path in _module_closure(module):
        digest.update(str(path.relative_to(path.parents[1])).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Design:
    """An Amaranth component factory and the keyword parameters that build it.

    Parameters
    ----------
    factory : callable
        Usually a :class:`amaranth.lib.wiring.Component` subclass; any callable that returns an
        elaboratable component with clock domain ``sync`` works.
    **params
        Keyword arguments for ``factory``. They must have a stable ``repr`` (numbers, strings,
        tuples, enums) because they are part of the cache key.
    """

    factory: object
    params: dict = field(default_factory=dict)

    def __init__(self, factory, /, **params):
        if not callable(factory):
            raise TypeError(f"Design factory must be callable, not {factory!r}")
        object.__setattr__(self, "factory", factory)
        object.__setattr__(self, "params", dict(params))

    @property
    def name(self):
        """A readable name for folders and logs: the factory's name in snake case."""
        name = getattr(self.factory, "__name__", "design")
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()

    @functools.cached_property
    def key(self):
        """A hash of everything that determines the generated Verilog."""
        digest = hashlib.sha256()
        digest.update(f"{self.factory.__module__}.{self.factory.__qualname__}".encode())
        digest.update(repr(sorted(self.params.items())).encode())
        digest.update(_source_digest(self.factory.__module__).encode())
        with contextlib.suppress(TypeError, OSError):   # a factory defined in __main__, too
            digest.update(Path(inspect.getfile(self.factory)).read_bytes())
        return digest.hexdigest()[:16]

    def create(self):
        """Build the component (parameters are validated here)."""
        return self.factory(**self.params)

    def folder(self, root=None):
        return (root or build_root()) / "sim" / f"{self.name}-{self.key}"


def _locked(folder, shared=False):
    return cache.locked(folder, shared=shared)


def convert(component, name=TOPLEVEL, platform=None):
    """Return the Verilog of an Amaranth component, as the simulators and linters see it
    (``platform=None``), or as it is elaborated for ``platform``."""
    from amaranth.back import verilog

    return verilog.convert(component, name=name, emit_src=False, platform=platform)


def verilog(design, root=None):
    """Return the path of the design's Verilog, generating it on first use.

    Raises whatever the component constructor raises for bad parameters.
    """
    folder = design.folder(root)
    path = folder / f"{TOPLEVEL}.v"
    stamp = folder / _SOURCE_STAMP
    if cache.verified(stamp, folder):
        return path
    with _locked(folder):
        if not cache.verified(stamp, folder):   # missing, or damaged: generate it again
            text = convert(design.create())
            with contextlib.suppress(FileNotFoundError):
                stamp.unlink()
            cache.write_atomically(path, text)
            cache.write_stamp(stamp, [path])
    return path


def _tail(path, lines=60):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _runner(sim):
    from cocotb_tools.runner import get_runner

    toolchain.check_simulator(sim)
    return get_runner(sim)


#: The stamp of a design's ``top.v``, and of a simulator build (see :mod:`tessera.sim.cache`).
_SOURCE_STAMP = ".top.v.stamp"
_BUILD_STAMP = ".built"


def _products(sim, toplevel=TOPLEVEL):
    """The files a simulator build produces and its runs execute: what the build stamp
    records."""
    return ("sim.vvp",) if sim == "icarus" else (toplevel,)


def _build_ok(build_dir, sim, source_digest):
    return cache.verified(build_dir / _BUILD_STAMP, build_dir, source=source_digest)


def _adopt_old_stamp(build_dir, sim, source_digest, toplevel):
    """Give a build made before stamps held digests (``.built`` holding the design key) a stamp
    of the new kind, when its products are there; a damaged one is caught by the crash check."""
    stamp = build_dir / _BUILD_STAMP
    products = [build_dir / name for name in _products(sim, toplevel)]
    if (stamp.exists() and cache.read_stamp(stamp) is None
            and all(p.is_file() for p in products)):
        cache.write_stamp(stamp, products, source=source_digest)


def build_digest(source, sim, *more, flags=()):
    """What a build of ``source`` (a top.v, and the files ``more``) on ``sim`` is recorded as
    built from: the files' digests and the build flags' (with the extra ``flags``), so that a
    change of either rebuilds."""
    flags = " ".join([*toolchain.VERILATOR_BUILD_ARGS, *flags]) if sim == "verilator" else ""
    files = ":".join(cache.digest(path) for path in (source, *more))
    return f"{files}:{hashlib.sha256(flags.encode()).hexdigest()[:16]}"


def _clocked_source(source, clock_ns):
    """Write (once) the wrapper driving ``source``'s clock from inside the simulator
    (:mod:`tessera.sim.simclock`) beside it; return its path."""
    path = source.parent / f"{simclock.CLOCKED_TOP}-{clock_ns:g}ns.v"
    text = simclock.clocked_wrapper(source.read_text(), TOPLEVEL, clock_ns)
    if not path.exists() or path.read_text() != text:
        with _locked(source.parent):
            cache.write_atomically(path, text)
    return path


def _build(design, sim, waves, root, verbose, clock_ns=None):
    """Build the simulator model of ``design`` unless a verified build exists; return
    ``(build folder, digest of the top.v it was built from and of the build's flags,
    toplevel)``. With ``clock_ns``, the clock runs inside the simulator
    (:mod:`tessera.sim.simclock`)."""
    source = verilog(design, root)
    sources, toplevel, flags = [source], TOPLEVEL, []
    if clock_ns is not None:
        sources.append(_clocked_source(source, clock_ns))
        toplevel = simclock.CLOCKED_TOP
        flags = ["--timing"] if sim == "verilator" else []
    source_digest = build_digest(source, sim, *sources[1:], flags=flags)
    folder = f"{sim}-waves" if waves else sim
    build_dir = source.parent / (folder if clock_ns is None else f"{folder}-clock{clock_ns:g}ns")
    if _build_ok(build_dir, sim, source_digest):
        return build_dir, source_digest, toplevel
    with _locked(build_dir):
        _adopt_old_stamp(build_dir, sim, source_digest, toplevel)
        if _build_ok(build_dir, sim, source_digest):
            return build_dir, source_digest, toplevel
        # Missing, half-made or damaged: start from an empty folder (runs hold a shared lock,
        # so none is using it).
        cache.empty_folder(build_dir)
        runner = _runner(sim)
        build_args = []
        if sim == "verilator":
            control = build_dir / "public.vlt"
            control.write_text(toolchain.verilator_public(toplevel))
            build_args = [*toolchain.VERILATOR_BUILD_ARGS, *flags, str(control.resolve())]
        if sim == "verilator" and waves:
            toolchain.check_fst_headers()
            build_args += ["--trace-fst", "--trace-structs"]
        log = build_dir / "build.log"
        try:
            runner.build(
                sources=sources,
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                build_args=build_args,
                timescale=toolchain.TIMESCALE,
                waves=waves,
                always=True,
                log_file=None if verbose else log,
            )
        except (RuntimeError, SystemExit) as error:
            raise SimulationFailed(
                f"{sim} could not build {design.name} ({error}); log {log}:\n{_tail(log)}"
            ) from None
        products = [build_dir / name for name in _products(sim, toplevel)]
        missing = [p.name for p in products if not p.is_file()]
        if missing:
            raise SimulationFailed(f"{sim} built {design.name} without {', '.join(missing)}; "
                                   f"log {log}:\n{_tail(log)}")
        cache.write_stamp(build_dir / _BUILD_STAMP, products, source=source_digest)
    return build_dir, source_digest, toplevel


@dataclass
class SimResult:
    """What a :func:`simulate` call produced.

    Attributes
    ----------
    tests, failed : int
        cocotb tests run and failed.
    seed : int
        The random seed cocotb used (``COCOTB_RANDOM_SEED``).
    report : dict
        What the cocotb side passed to :func:`tessera.sim.tb.report`.
    outputs : dict of numpy.ndarray
        What the cocotb side passed to :func:`tessera.sim.tb.save_outputs`.
    run_dir : pathlib.Path or None
        The run folder, kept when the run recorded waves or ``TESSERA_KEEP_RUNS=1``.
    waves : pathlib.Path or None
        The FST waveform, when ``WAVES=1``.
    """

    tests: int
    failed: int
    seed: int
    report: dict
    outputs: dict
    run_dir: Path | None
    waves: Path | None


def _parse_results(path):
    """Return (number of tests, names of failed tests) from a cocotb results file."""
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    failed = [case.get("name") for case in cases
              if case.find("failure") is not None or case.find("error") is not None]
    return len(cases), failed


def _seed(seed):
    if seed is not None:
        return int(seed)
    if os.environ.get("COCOTB_RANDOM_SEED"):
        return int(os.environ["COCOTB_RANDOM_SEED"])
    return int.from_bytes(os.urandom(4), "little") & 0x7FFF_FFFF


def simulate(design, test_module, *, sim=None, params=None, inputs=None, testcase=None,
             seed=None, waves=None, check=True, root=None, verbose=None, clock_ns=None):
    """Run the cocotb tests of ``test_module`` on ``design``.

    Parameters
    ----------
    design : Design
        What to simulate.
    test_module : str
        Dotted name of the cocotb test module (importable from ``sys.path`` of this process).
    sim : str, optional
        ``"icarus"`` or ``"verilator"``; defaults to ``$SIM`` or ``icarus``.
    params : dict, optional
        JSON-serialisable parameters for the cocotb side (:func:`tessera.sim.tb.params`).
    inputs : dict of array_like, optional
        Arrays for the cocotb side (:func:`tessera.sim.tb.inputs`).
    testcase : str or list of str, optional
        Run only these cocotb tests.
    seed : int, optional
        Random seed; defaults to ``$COCOTB_RANDOM_SEED`` or a fresh one (always reported).
    waves : bool, optional
        Record an FST waveform; defaults to ``$WAVES``.
    check : bool
        Raise :class:`SimulationFailed` when a test fails (default). With ``False`` the caller
        inspects :attr:`SimResult.failed`.
    verbose : bool, optional
        Stream the simulator's output instead of logging it to the run folder; defaults to
        ``$TESSERA_VERBOSE``.
    clock_ns : float, optional
        Drive the design's ``clk`` from inside the simulator with this period (ns) instead of
        cocotb's GPI clock (:mod:`tessera.sim.simclock`: half the model evaluations on
        Verilator, no VPI callback per edge); :func:`tessera.sim.tb.start_clock` then only
        records the clock. The design's top must have an input ``clk``. On Verilator a
        callback at a rising edge then reads the values after the edge, not before: only for
        testbenches that do not sample at edges (see :mod:`tessera.sim.simclock`).
    """
    sim = sim or toolchain.default_simulator()
    toolchain.check_simulator(sim)
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    if verbose is None:
        verbose = os.environ.get("TESSERA_VERBOSE", "0") not in ("", "0")
    seed = _seed(seed)

    if clock_ns is not None and not (isinstance(clock_ns, (int, float)) and clock_ns > 0):
        raise ValueError(f"clock_ns must be a positive number, not {clock_ns!r}")
    for _ in range(3):
        build_dir, source_digest, toplevel = _build(design, sim, waves, root, verbose,
                                                    clock_ns)
        # A shared lock for the whole run: nobody rebuilds or clears the build under it.
        with _locked(build_dir, shared=True):
            if not _build_ok(build_dir, sim, source_digest):
                continue            # changed between the check and the lock: check again
            return _run(design, build_dir, test_module, sim=sim, params=params, inputs=inputs,
                        testcase=testcase, seed=seed, waves=waves, check=check,
                        verbose=verbose, toplevel=toplevel, clock_ns=clock_ns)
    raise SimulationFailed(f"the {sim} build of {design.name} in {build_dir} keeps changing "
                           f"while this process uses it")


def _keep_runs():
    return os.environ.get(_KEEP_RUNS_ENV, "0") not in ("", "0")


def _run(design, build_dir, test_module, *, sim, params, inputs, testcase, seed, waves, check,
         verbose, toplevel=TOPLEVEL, clock_ns=None):
    """One cocotb run in a fresh run folder of ``build_dir`` (whose shared lock is held)."""
    runs = build_dir / "runs"
    runs.mkdir(exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{test_module.rsplit('.', 1)[-1]}-", dir=runs))
    keep = waves or _keep_runs()
    try:
        return _run_in(design, build_dir, run_dir, test_module, sim=sim, params=params,
                       inputs=inputs, testcase=testcase, seed=seed, waves=waves, check=check,
                       verbose=verbose, keep=keep, toplevel=toplevel, clock_ns=clock_ns)
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def _run_in(design, build_dir, run_dir, test_module, *, sim, params, inputs, testcase, seed,
            waves, check, verbose, keep, toplevel=TOPLEVEL, clock_ns=None):
    import numpy as np

    (run_dir / "params.json").write_text(json.dumps(params or {}))
    if inputs:
        np.savez(run_dir / "inputs.npz", **{k: np.asarray(v) for k, v in inputs.items()})

    results = run_dir / "results.xml"
    log = run_dir / "sim.log"
    wave_file = run_dir / "waves.fst"
    runner = _runner(sim)
    extra = {"plusargs": [f"+dumpfile_path={wave_file}"]} if sim == "icarus" and waves else {}
    if sim == "verilator" and waves:
        extra["test_args"] = ["--trace-file", str(wave_file)]
    crashed = None
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=build_dir,
            test_dir=run_dir,
            testcase=testcase,
            seed=seed,
            extra_env={_RUN_DIR_ENV: str(run_dir),
                       **({simclock.CLOCK_ENV: f"{clock_ns:g}"} if clock_ns else {})},
            results_xml=str(results),
            waves=waves,
            timescale=toolchain.TIMESCALE,
            log_file=None if verbose else log,
            **extra,
        )
    except (RuntimeError, SystemExit) as error:
        crashed = error

    where = f"{design.name} on {sim}, seed {seed}"
    kept = f"run folder {run_dir}" if keep else f"set {_KEEP_RUNS_ENV}=1 to keep the run folder"
    if not results.exists():
        # The simulator died. Its build may be to blame (damage no digest sees, a build from
        # before stamps held digests): drop the stamp so that the next run rebuilds it.
        with contextlib.suppress(OSError):
            (build_dir / _BUILD_STAMP).unlink()
        reason = str(crashed).strip().splitlines()[0] if crashed and str(crashed).strip() \
            else "no results"
        raise SimulationFailed(
            f"the simulator crashed: the simulation of {where} did not finish ({reason}); its "
            f"build will be redone on the next run; rerun with COCOTB_RANDOM_SEED={seed}; "
            f"{kept}\nlog tail:\n{_tail(log)}")
    try:
        tests, failed = _parse_results(results)
        report_path = run_dir / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        outputs_path = run_dir / "outputs.npz"
        outputs = dict(np.load(outputs_path, allow_pickle=False)) if outputs_path.exists() \
            else {}
    except (ET.ParseError, ValueError, OSError, EOFError) as error:
        raise SimulationFailed(f"the simulation of {where} left damaged results "
                               f"({type(error).__name__}: {error}); {kept}") from None
    if waves:
        print(f"waves: {wave_file}", file=sys.stderr, flush=True)
    result = SimResult(tests=tests, failed=len(failed), seed=seed, report=report,
                       outputs=outputs, run_dir=run_dir if keep else None,
                       waves=wave_file if waves else None)
    if check and tests == 0:
        raise SimulationFailed(f"no cocotb test ran for {where} (test module {test_module!r}, "
                               f"testcase {testcase!r}); {kept}\nlog tail:\n{_tail(log)}")
    if check and failed:
        raise SimulationFailed(
            f"{len(failed)} of {tests} cocotb tests failed ({', '.join(failed)}) for {where}; "
            f"rerun with COCOTB_RANDOM_SEED={seed}; {kept}\nlog tail:\n{_tail(log)}")
    return result


__all__ = ["Design", "SimResult", "SimulationFailed", "TesseraError", "convert", "simulate",
           "verilog"]
