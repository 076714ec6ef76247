"""The boards tessera builds for: name -> platform, clock, baud, core configuration, link sizes.

A :class:`Board` names its amaranth-boards platform, the oscillator the core runs from, the
UART's baud rate (as fast as the board's USB bridge allows and as its clock divides exactly) and
the core behind the link (:class:`CoreSpec`: on the ECP5-85F boards the system top of issue 10,
both engines behind one command stream, with the configuration of ``tessera run``; on the
smaller parts the sparse PE array, sized to hold the compressed digits MLP resident). Everything
else (the board top, the build, the simulated board, the host program) reads this table.
"""

import importlib
from dataclasses import dataclass, field, replace

from tessera.golden.config.sparse import SparseConfig
from tessera.golden.errors import TesseraError
from tessera.golden.system_config import SystemConfig, SystolicConfig
from tessera.golden.uart import divisor_for

__all__ = ["BOARDS", "Board", "CoreSpec", "board", "board_device"]


def _resolve(path):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class CoreSpec:
    """The core behind a board's link: a component class (``module:Class``), its configuration
    and the name of its command stream (``i`` on the sparse array, ``cmd`` on the system top;
    the output stream is ``o`` on both)."""

    factory: str
    config: object
    command: str = "i"

    @property
    def system(self):
        """Whether the core is the system top (it runs ``tessera run``'s programs)."""
        return isinstance(self.config, SystemConfig)

    def create(self):
        """Build the core component."""
        cls = _resolve(self.factory)
        return cls(self.config) if self.system else cls.from_config(self.config)

    def describe(self):
        if self.system:
            c = self.config
            return (f"SystemTop({c.systolic.rows}x{c.systolic.cols} systolic, "
                    f"{c.sparse.n_pes} sparse PEs, act_depth={c.act_depth}, "
                    f"weight_depth={c.weight_depth}, qparam_depth={c.qparam_depth})")
        fields = ", ".join(f"{k}={v}" for k, v in self.config.params().items()
                           if k == "n_pes" or v != getattr(type(self.config), k, None))
        return f"{self.factory.rpartition(':')[2]}({fields})"


def _sparse(**params):
    return CoreSpec("tessera.hw.sparse:SparseArray", SparseConfig(**params))


def _system(config=None):
    from tessera.sim.system import default_config

    return CoreSpec("tessera.hw.system.top:SystemTop", config or default_config(),
                    command="cmd")


#: The UP5K (30 EBR of 4 Kbit, 8 SB_MAC16, 5,280 LUT4) holds one PE (docs/measurements.md);
#: its memories are sized for the compressed MLP interleaved over one PE (665 matrix words, 470
#: pointers, 410 parameter rows, 300 activations). A queue of 2 (one PE never waits for another)
#: leaves room in the logic cells for the link: 5,100 of 5,280 with it, 30 of 30 EBR. One
#: codebook (the host reloads it for each layer: a slot is 128 flip-flops on the UP5K) and one
#: activation a PE per ACT command (eight would make the activation buffers 64 bits wide:
#: two more EBR).
_UP5K_CORE = _sparse(n_pes=1, fifo_depth=2, spmat_depth=768, ptr_depth=512, act_depth=512,
                     param_depth=512, codebooks=1, act_pack=False)
#: The ECP5-25F takes four PEs with EIE's memories (40 DP16KD, 12 MULT18X18D; 103 MHz on its
#: own): in the 8x8 system 33 MULT18X18D are the command processor's and the address units',
#: more than the 25F's 28 before any PE (docs/boards.md).
_ECP5_CORE = _sparse(n_pes=4, codebooks=1)
#: The ECP5-45F (108 DP16KD, 72 MULT18X18D) takes a smaller system: a 4x4 systolic array, two
#: sparse PEs with EIE's memories and the default memories; the digits MLP and CNN each fit.
_SYSTEM_45F = SystemConfig(systolic=SystolicConfig(rows=4, cols=4, max_m=64, max_k=128,
                                                   max_n=64),
                           sparse=SparseConfig(n_pes=2))
#: The ECP5-85F takes the system top with ``tessera run``'s configuration (8x8 systolic, four
#: sparse PEs, the default memories: the digits MLP and CNN resident together): 39.1 MHz on the
#: ULX3S-85F (docs/boards.md).
_SYSTEM_CORE = _system()


@dataclass(frozen=True)
class Board:
    """A board tessera builds for.

    Its fields: ``name`` (what the commands take); ``platform`` (``module:Class`` of its
    amaranth-boards platform); ``description`` (the board, its FPGA, its USB-serial bridge);
    ``clock_hz`` (the oscillator); ``baud`` (the UART's rate, which the core's clock must divide
    within 1%, :func:`divisor_for`); ``core`` (the :class:`CoreSpec` behind the link);
    ``loader`` (openFPGALoader's ``-b`` name); ``family`` (``ice40`` or ``ecp5``); ``link``
    (:class:`tessera.hw.link.LinkDevice`'s buffer sizes); ``pll_hz`` (the core's clock from a
    PLL, ECP5 or iCE40, where the design closes timing above or only below the oscillator's;
    None runs the core from the oscillator).
    """

    name: str
    platform: str
    description: str
    clock_hz: int
    baud: int
    core: CoreSpec
    loader: str
    family: str
    link: dict = field(default_factory=dict)
    pll_hz: int | None = None

    @property
    def core_hz(self):
        """The clock of the core and the link: the PLL's, or the oscillator's."""
        return self.pll_hz or self.clock_hz

    @property
    def divisor(self):
        """Clock cycles per UART bit."""
        return divisor_for(self.core_hz, self.baud)

    def link_params(self):
        """The :class:`tessera.hw.link.LinkDevice` parameters: buffer sizes, and times in
        cycles (a frame under way is abandoned after 1 ms of quiet line; results go again
        after 100 ms without acknowledgement; a partial result frame leaves after 100 bit
        times without a new result byte)."""
        return {"divisor": self.divisor, "quiet_cycles": self.core_hz // 1000,
                "retransmit_cycles": self.core_hz // 10, "flush_cycles": 100 * self.divisor,
                **self.link}

    def platform_class(self):
        return _resolve(self.platform)

    def with_core(self, core, link):
        """This board with another core and link buffers (same platform, pins, clocks, baud):
        what ``make test`` builds where the board's own core takes too long."""
        return replace(self, core=core, link=link)


_ICE40_LINK = {"buffer_bytes": 512, "max_payload": 512, "result_payload": 128,
               "results_bytes": 512, "window": 2}
_ECP5_LINK = {"buffer_bytes": 4096, "max_payload": 1024, "result_payload": 256,
              "results_bytes": 1024}
#: The system top counts each instruction's cycles from its first header word: a gate of 512
#: command words (one frame) and a FIFO of 64 output words let an inference's program run as
#: in co-simulation, with ``cmd`` never gapped and ``o`` never back-pressured.
_SYSTEM_LINK = {**_ECP5_LINK, "gate_words": 512, "result_words": 64}

#: What ``make test`` builds for a board whose own core takes longer than its budget allows
#: (the ULX3S-85F's system core: about 30 minutes of place and route): the board's platform,
#: pins, clock and UART with the iCE40's one-PE sparse core behind the ECP5 link
#: (:meth:`Board.with_core`). ``make boards`` builds every board with its own core.
QUICK_BUILD = {"ulx3s-85f": (_UP5K_CORE, _ECP5_LINK)}

#: Every board, in the order of ``tessera board list`` and ``make boards`` (smallest first).
BOARDS = {b.name: b for b in (
    Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform",
          "1BitSquared iCEBreaker: iCE40UP5K, FT2232H", 12_000_000, 3_000_000, _UP5K_CORE,
          "icebreaker", "ice40", _ICE40_LINK,
          # The core closes timing at 22.5 MHz from the 12 MHz oscillator; 18 MHz from the PLL
          # divides 3 Mbaud exactly (docs/boards.md).
          pll_hz=18_000_000),
    Board("icesugar", "amaranth_boards.icesugar:ICESugarPlatform",
          "MuseLab iCESugar 1.5: iCE40UP5K, iCELink (CMSIS-DAP)", 12_000_000, 115_200,
          _UP5K_CORE, "icesugar", "ice40", _ICE40_LINK, pll_hz=18_000_000),
    Board("ulx3s-25f", "amaranth_boards.ulx3s:ULX3S_25F_Platform",
          "Radiona ULX3S: ECP5 LFE5U-25F, FT231X", 25_000_000, 3_000_000, _ECP5_CORE, "ulx3s",
          "ecp5", _ECP5_LINK,
          # The sparse core closes timing at 69.4 MHz from the 25 MHz oscillator; 60 MHz from
          # the PLL divides the FT231X's fastest rate, 3 Mbaud, exactly (docs/boards.md).
          pll_hz=60_000_000),
    Board("ulx3s-45f", "amaranth_boards.ulx3s:ULX3S_45F_Platform",
          "Radiona ULX3S: ECP5 LFE5U-45F, FT231X", 25_000_000, 3_000_000,
          _system(_SYSTEM_45F), "ulx3s", "ecp5", _SYSTEM_LINK,
          # The 4x4 system closed timing at 44.7 MHz from the oscillator; 30 MHz from the
          # PLL divides 3 Mbaud exactly (docs/boards.md).
          pll_hz=30_000_000),
    Board("ulx3s-85f", "amaranth_boards.ulx3s:ULX3S_85F_Platform",
          "Radiona ULX3S: ECP5 LFE5U-85F, FT231X", 25_000_000, 3_000_000, _SYSTEM_CORE, "ulx3s",
          "ecp5", _SYSTEM_LINK,
          # The system closed timing at 39.1 MHz from the 25 MHz oscillator; 30 MHz from the
          # PLL divides 3 Mbaud exactly (placed at 40.2 MHz there; its routing has not
          # finished yet: docs/boards.md).
          pll_hz=30_000_000),
    Board("ecpix5-85f", "amaranth_boards.ecpix5:ECPIX585Platform",
          "LambdaConcept ECPIX-5: ECP5 LFE5UM5G-85F, FT2232H", 100_000_000, 2_000_000,
          _SYSTEM_CORE, "ecpix5", "ecp5", _SYSTEM_LINK,
          # This part is speed 8 (the ULX3S's is 6): the system reached 60.9 MHz from a 40 MHz
          # PLL; 50 MHz divides 2 Mbaud exactly (not routed there yet: docs/boards.md).
          pll_hz=50_000_000),
)}


def board(name):
    """Return the :class:`Board` called ``name`` (a :class:`Board` is returned as it is); a
    one-line error names the known ones."""
    if isinstance(name, Board):
        return name
    if name not in BOARDS:
        raise TesseraError(f"unknown board {name!r}: choose one of {', '.join(BOARDS)}")
    return BOARDS[name]


def board_device(name):
    """Return the :class:`tessera.hw.link.LinkDevice` of board ``name`` (or a :class:`Board`): its
    core behind the link,
    with the pins ``rx`` and ``tx`` (what the board top puts on the UART pins, and what the
    simulated board drives bit by bit)."""
    from tessera.hw.link import LinkDevice

    spec = board(name)
    return LinkDevice(spec.core.create(), command=spec.core.command, **spec.link_params())
