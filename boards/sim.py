"""A simulated board: a board's link device on Verilator behind a pseudo-terminal.

``with SimulatedBoard("icebreaker") as board:`` builds (or takes from the cache) the board's
:func:`tessera.boards.registry.board_device`, starts it in a simulator that bridges its UART pins
to a pseudo-terminal (:mod:`tessera.sim.cosim.board`), and gives the terminal's path as
``board.path``. Any serial program can open it; :class:`tessera.sim.serial.SerialTransport` does.
Leaving the block stops the simulation and puts its report (bytes carried, simulated cycles) in
``board.report``.

The simulated board is slower than the real one by the simulator's speed (tens of thousands of
cycles a second against millions), so a host talking to it needs patient timeouts:
:data:`HOST_TIMEOUTS`.
"""

import tempfile
import threading
import time
from pathlib import Path

from tessera.golden.errors import TesseraError

from .registry import board, board_device

__all__ = ["HOST_TIMEOUTS", "SimulatedBoard"]

#: :class:`tessera.sim.link.HostLink` timeouts (wall seconds) for a simulated board.
HOST_TIMEOUTS = {"retransmit_after": 60.0, "quiet_after": 2.0, "tries": 4}


class SimulatedBoard:
    """Board ``name`` simulated on ``sim`` behind a pseudo-terminal (see the module).

    Parameters
    ----------
    name : str
        A board of :data:`tessera.boards.registry.BOARDS`.
    sim : str
        ``verilator`` (default) or ``icarus``.
    max_seconds : float
        Wall time after which the simulation stops by itself.
    start_timeout : float
        Wall seconds to wait for the simulator (its first build compiles for minutes).
    """

    def __init__(self, name, *, sim="verilator", max_seconds=3600.0, start_timeout=900.0,
                 seed=0):
        self.board = board(name)
        self.name, self.sim, self.seed = name, sim, seed
        self.max_seconds, self.start_timeout = max_seconds, start_timeout
        self.path = None
        self.report = None
        self._error = None

    def _run(self, params):
        from tessera.sim.runner import Design, simulate

        try:
            result = simulate(Design(board_device, name=self.name), "tessera.sim.cosim.board",
                              sim=self.sim, params=params, seed=self.seed)
            self.report = result.report
        except Exception as error:   # reported by __enter__ / __exit__ in the caller's thread
            self._error = error

    def __enter__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="tessera-board-")
        folder = Path(self._folder.name)
        path_file, self._stop = folder / "pty", folder / "stop"
        params = {"divisor": self.board.divisor, "path_file": str(path_file),
                  "stop_file": str(self._stop), "max_seconds": self.max_seconds}
        self._thread = threading.Thread(target=self._run, args=(params,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not path_file.exists():
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._stop.touch()
                self._thread.join(timeout=30)
                self._folder.cleanup()
                raise TesseraError(f"the simulated {self.name} did not start: "
                                   f"{self._error or 'timed out'}")
            time.sleep(0.1)
        self.path = path_file.read_text()
        return self

    def wait(self):
        """Block until the simulation ends (``max_seconds``, or the stop file)."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __exit__(self, *exc):
        self._stop.touch()
        self._thread.join(timeout=120)
        self._folder.cleanup()
        if self._error is not None and exc[0] is None:
            raise TesseraError(f"the simulated {self.name} failed: {self._error}")
