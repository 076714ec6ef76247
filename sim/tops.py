"""The registry of hardware tops: one :class:`Top` entry per design, read by every tool.

``tessera verilog`` (its sub-commands and ``all``), ``make synth`` (:mod:`tessera.boards.synth`'s
targets), ``make bench`` (:mod:`tessera.sim.bench`) and the demo (``tessera sim``) all iterate
over :data:`TOPS`; nothing else lists the tops. Adding a top is its own files plus one entry::

    TOPS["mytop"] = Top(
        name="mytop",
        help="one line for `tessera verilog --help`",
        factory="tessera.hw.mytop:MyTop",          # a wiring.Component taking keywords
        config="tessera.golden.config.mytop:MyConfig",   # or None: no engine configuration
        options=(Option("depth", "words per buffer", default=MyConfig.depth),),
        synth={"mytop-ecp5": SynthTarget("ecp5-85f", {"depth": 64}, 100)},
        benchmarks=("mytop",),                     # modules under tessera.sim.bench
        demo="tessera.sim.mytop:demo_section",     # (seed, sim, shared) -> (lines, ok)
    )

Order matters: it is the order of ``tessera verilog all``, of the synthesis targets, of the
benchmarks and of the demo's sections. An option's default is written once, here, taken from the
engine's configuration class where it has one; commands that run an engine (``tessera gemm``)
declare its options from the same entry (:meth:`Top.add_arguments`).

The module imports nothing heavy: factories, configurations, benchmarks and demo sections are
named as strings and imported on use.
"""

import argparse
import importlib
from dataclasses import dataclass, field

from tessera.golden.config.sparse import SparseConfig
from tessera.golden.config.systolic import SystolicConfig
from tessera.golden.system_config import RUN_SYSTOLIC, SystemConfig

__all__ = ["TOPS", "Option", "SynthTarget", "Top", "resolve"]


#: "Not given" (None is a valid default).
_UNSET = object()


def resolve(path):
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class Option:
    """One keyword parameter of a top, and its command-line flag.

    Attributes
    ----------
    name : str
        The factory's keyword (``acc_width``); the flag is ``--acc-width`` unless ``flag``.
    help : str
        What it is and its range; ``(default ...)`` is appended.
    default
        The one default (None: the factory's own, stated in ``default_help``).
    type : callable
        Converts the flag's text (``int``; ``str`` with ``choices``).
    choices : tuple or None
    flag, metavar : str or None
    default_help : str or None
        How ``--help`` states a None default.
    """

    name: str
    help: str
    default: object = None
    type: object = int
    choices: tuple = None
    flag: str = None
    metavar: str = None
    default_help: str = None

    def add_to(self, parser, *, default=_UNSET, help=None):
        """Add the flag to an argparse ``parser`` (``default``/``help`` override, for commands
        whose own default differs in meaning, such as buffers sized to the problem)."""
        value = self.default if default is _UNSET else default
        if help is None:
            stated = self.default_help if value is None and self.default_help else value
            help = f"{self.help} (default {stated})"
        kwargs = {"dest": self.name, "type": self.type, "default": value, "help": help}
        if self.choices:
            kwargs["choices"] = self.choices
        else:
            kwargs["metavar"] = self.metavar or "N"
        parser.add_argument(self.flag or "--" + self.name.replace("_", "-"), **kwargs)


@dataclass(frozen=True)
class SynthTarget:
    """One configuration of ``make synth``: a device, the top's parameters, a clock request."""

    device: str
    params: dict = field(default_factory=dict)
    freq_mhz: float = 100.0


@dataclass(frozen=True)
class Top:
    """A hardware top: how to build it, its options, and what every tool does with it.

    Attributes
    ----------
    name, help : str
    factory : str
        ``"module:Class"`` of the :class:`amaranth.lib.wiring.Component`; it takes the options
        as keywords.
    config : str or None
        ``"module:Class"`` of the engine's configuration (pure Python, validated on
        construction), whose fields are the options the top shares with it.
    options : tuple of Option
    synth : dict
        Target name -> :class:`SynthTarget`.
    benchmarks : tuple of str
        Modules under :mod:`tessera.sim.bench` (each with ``TITLE`` and ``run()``).
    demo : str or None
        ``"module:function"`` of the demo's section, called as ``(seed, sim, shared)`` and
        returning ``(lines, ok)``; ``shared`` holds what earlier sections left (``model``).
        A top has one only if its section shows something the system's does not
        (``docs/system.md``).
    """

    name: str
    help: str
    factory: str
    options: tuple = ()
    config: str = None
    synth: dict = field(default_factory=dict)
    benchmarks: tuple = ()
    demo: str = None

    def defaults(self):
        """Return the options' defaults as keyword arguments."""
        return {option.name: option.default for option in self.options}

    def configuration(self, **params):
        """Return the engine's validated configuration for ``params`` (None without one)."""
        if self.config is None:
            return None
        known = {f for f in resolve(self.config).__dataclass_fields__}
        return resolve(self.config)(**{k: v for k, v in {**self.defaults(), **params}.items()
                                       if k in known})

    def design(self, **params):
        """Return the :class:`tessera.sim.runner.Design` of this top with ``params``.

        Parameters left at None are not passed (the factory's own default applies), so that a
        design spelled with or without them shares one build.
        """
        from tessera.sim.runner import Design

        values = {**self.defaults(), **params}
        return Design(resolve(self.factory),
                      **{name: value for name, value in values.items() if value is not None})

    def add_arguments(self, parser, *, only=None):
        """Add the options (or those named in ``only``) to an argparse ``parser``."""
        for option in self.options:
            if only is None or option.name in only:
                option.add_to(parser)

    def option(self, name):
        """Return the :class:`Option` called ``name``."""
        return next(option for option in self.options if option.name == name)

    def params(self, args):
        """Return the options' values from parsed ``args``."""
        return {option.name: getattr(args, option.name) for option in self.options}


_ACC_WIDTH = Option("acc_width", "accumulator width, 16..64", default=32, metavar="BITS")

_SYSTOLIC = SystolicConfig
_SYSTOLIC_OPTIONS = (
    Option("rows", "array rows, 1..32", default=_SYSTOLIC.rows),
    Option("cols", "array columns, 1..32", default=_SYSTOLIC.cols),
    Option("dataflow", "weight-stationary or output-stationary", default=_SYSTOLIC.dataflow,
           type=str, choices=("ws", "os")),
    Option("acc_width", "accumulator width, 16..32", default=_SYSTOLIC.acc_width,
           metavar="BITS"),
    *(Option(f"max_{dim}", f"largest {dim.upper()} the buffers hold",
             default=getattr(_SYSTOLIC, f"max_{dim}"), metavar=dim.upper())
      for dim in ("m", "k", "n")),
    Option("acc_depth", "WS M-tile: rows per accumulator-bank half", default=_SYSTOLIC.acc_depth,
           metavar="ROWS", default_help="min(max-m, 64)"),
    Option("lanes", "results a cycle on the output path, a divisor of cols", default=None,
           default_help="cols"),
    Option("dsp_macs", "PEs that multiply in DSP blocks, the rest in LUTs", default=None,
           default_help="all"),
    Option("dsp_lanes", "output lanes whose post-processor multiplies in DSP blocks, the rest "
           "in logic", default=None, default_help="all"),
)

_SPARSE_OPTIONS = (*(
    Option(name, text, default=getattr(SparseConfig, name),
           flag="--pes" if name == "n_pes" else None)
    for name, text in (
        ("n_pes", "number of PEs, 1..64"),
        ("fifo_depth", "activation queue depth, 2..64"),
        ("index_bits", "codebook index width, 1..8"),
        ("rel_bits", "relative row index width, 1..8"),
        ("weight_width", "codebook value width, 2..16"),
        ("entries_per_word", "entries per matrix-memory word, a power of two up to 16"),
        ("ptr_bits", "column pointer width, 8..20"),
        ("spmat_depth", "matrix-memory words per PE"),
        ("ptr_depth", "column pointers per PE"),
        ("act_depth", "activations per PE in each buffer (and accumulators)"),
        ("param_depth", "requantization parameter rows per PE"),
        ("codebooks", "codebooks held at once (one per FC layer), 1..16"))),
    Option("act_pack", "an ACT command fills its eight lanes, 8 // N activations a PE: on or "
           "off (off: one a PE, the activation buffers one byte wide)",
           default=SparseConfig.act_pack, type=lambda text: _on_off(text, "--act-pack"),
           metavar="on|off"))


def _on_off(text, flag):
    """``on`` -> True, ``off`` -> False (argparse reports anything else as one line)."""
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"{flag} takes on or off, not {text!r}")
    return text == "on"

def _ecp5_and_ice40(name):
    """The targets of a small top with no parameters: ``NAME-ecp5`` (100 MHz requested) and
    ``NAME-ice40`` on the UP5K (24 MHz)."""
    return {f"{name}-ecp5": SynthTarget("ecp5-85f", {}, 100),
            f"{name}-ice40": SynthTarget("ice40-up5k", {}, 24)}


#: The sparse array's memories per PE on the iCE40UP5K: 256 words of 2 entries, 256 pointers,
#: 32 activations per buffer, 32 parameter rows, two codebooks (the UP5K has no distributed
#: RAM: each codebook is 128 flip-flops); the ECP5 targets keep EIE's defaults.
_UP5K_SPARSE_MEMORIES = {"entries_per_word": 2, "spmat_depth": 256, "ptr_depth": 256,
                         "act_depth": 32, "param_depth": 32, "codebooks": 2}

#: The systems ``make synth`` builds (``SystemTop`` keywords).
_SYSTEM_ECP5 = {"systolic": dict(RUN_SYSTOLIC)}
#: Its systolic output path is one lane (one post-processor, its multipliers among the UP5K's
#: eight SB_MAC16), as before issue 10's C lanes: the small system trades cycles for cells.
_SYSTEM_UP5K = {
    "systolic": {"rows": 2, "cols": 2, "max_m": 16, "max_k": 32, "max_n": 16, "lanes": 1},
    "sparse": {"n_pes": 1, **_UP5K_SPARSE_MEMORIES},
    "act_depth": 1024, "weight_depth": 256, "qparam_depth": 32, "stats_depth": 16,
    "dsp_macs": 0}

#: Every top, in the order the tools take them.
TOPS = {
    "pe": Top(
        name="pe",
        help="the int8 multiply-accumulate processing element",
        factory="tessera.hw.pe:MACPE",
        options=(_ACC_WIDTH,),
        synth=_ecp5_and_ice40("pe"),
        benchmarks=("pe",),
    ),
    "postproc": Top(
        name="postproc",
        help="the post-processing unit: bias, requantize, ReLU, saturate",
        factory="tessera.hw.postproc:PostProcessor",
        options=(_ACC_WIDTH,),
        synth=_ecp5_and_ice40("postproc"),
    ),
    "systolic": Top(
        name="systolic",
        help="the int8 systolic GEMM engine (tessera.hw.systolic.SystolicGemm)",
        factory="tessera.hw.systolic:SystolicGemm",
        config="tessera.golden.config.systolic:SystolicConfig",
        options=_SYSTOLIC_OPTIONS,
        synth={
            # Every PE and every post-processing lane on DSPs at 8x8 (64 + 8 * 2 of 156
            # MULT18X18D); at 16x16 one lane's post-processor takes 2 of the 156, 154 PEs take
            # the rest and 102 multiply in LUTs, and fifteen lanes multiply in logic.
            "systolic-8x8-ecp5": SynthTarget("ecp5-85f", {"rows": 8, "cols": 8}, 100),
            "systolic-16x16-ecp5": SynthTarget(
                "ecp5-85f", {"rows": 16, "cols": 16, "max_m": 256, "max_k": 256, "max_n": 256,
                             "dsp_macs": 154, "dsp_lanes": 1}, 100),
            # The same with every PE on the Booth LUT multiplier: what the DSP blocks' routing
            # costs.
            "systolic-16x16-lut-ecp5": SynthTarget(
                "ecp5-85f", {"rows": 16, "cols": 16, "max_m": 256, "max_k": 256, "max_n": 256,
                             "dsp_macs": 0}, 100),
        },
        benchmarks=("systolic", "scalesim"),
        demo="tessera.sim.systolic:demo_section",
    ),
    "sparse": Top(
        name="sparse",
        help="the EIE-style sparse PE array (tessera.hw.sparse.SparseArray)",
        factory="tessera.hw.sparse:SparseArray",
        config="tessera.golden.config.sparse:SparseConfig",
        options=_SPARSE_OPTIONS,
        synth={
            # EIE's memories per PE on the ECP5 (1024 words of 8 entries, 1024 pointers, 256
            # activations per buffer, 256 parameter rows); on the UP5K the small memories.
            "sparse-4pe-ecp5": SynthTarget("ecp5-85f", {"n_pes": 4}, 100),
            "sparse-16pe-ecp5": SynthTarget("ecp5-85f", {"n_pes": 16}, 100),
            "sparse-4pe-ice40": SynthTarget("ice40-up5k",
                                            {"n_pes": 4, **_UP5K_SPARSE_MEMORIES}, 24),
            "sparse-16pe-ice40": SynthTarget(
                "ice40-up5k", {"n_pes": 16, "entries_per_word": 2, "spmat_depth": 64,
                               "ptr_depth": 128, "act_depth": 8, "param_depth": 8}, 24),
            # What the UP5K holds: 2 PEs (4,511 of 5,280 logic cells, 4 SB_MAC16, 18 EBR)
            # since the array shares one post-processor (issue 12); 4 need 32 of its 30 EBR and
            # about 7,000 logic cells. Before, 2 needed more logic cells than the part has.
            "sparse-2pe-ice40": SynthTarget("ice40-up5k",
                                            {"n_pes": 2, **_UP5K_SPARSE_MEMORIES}, 24),
            "sparse-1pe-ice40": SynthTarget("ice40-up5k",
                                            {"n_pes": 1, **_UP5K_SPARSE_MEMORIES}, 24),
        },
        benchmarks=("spmv_golden", "sparse"),
        demo="tessera.sim.sparse:demo_section",
    ),
    "system": Top(
        name="system",
        help="both engines behind one command stream (tessera.hw.system.SystemTop)",
        factory="tessera.hw.system.top:SystemTop",
        config="tessera.golden.system_config:SystemConfig",
        options=(
            Option("act_depth", "activation-memory bytes, 16..65536",
                   default=SystemConfig.act_depth),
            Option("weight_depth", "dense weight-memory words, 1..65536",
                   default=SystemConfig.weight_depth),
            Option("qparam_depth", "systolic requantization rows, 1..1024",
                   default=SystemConfig.qparam_depth),
            Option("stats_depth", "instructions STATS logs, 1..1024",
                   default=SystemConfig.stats_depth)),
        synth={
            # tessera run's system (8 x 8 systolic on DSPs, 4 sparse PEs with EIE's memories,
            # the default memories): tessera.sim.system.default_config().
            "system-8x8-ecp5": SynthTarget("ecp5-85f", _SYSTEM_ECP5, 100),
            # A small system for the iCEBreaker: 2 x 2 systolic on logic multipliers, 1 sparse
            # PE with the UP5K's small memories, 1 KB of activation memory. It does not fit yet
            # (9,667 LUTs, 24 SB_MAC16, 52 EBR: the command processor's arithmetic; issue 12).
            "system-2x2-ice40": SynthTarget("ice40-up5k", _SYSTEM_UP5K, 24),
        },
        benchmarks=("system",),
        demo="tessera.sim.system:demo_section",
    ),
}
