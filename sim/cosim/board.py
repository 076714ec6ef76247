"""A simulated board behind a pseudo-terminal, cocotb side.

The design is a board's link device (:func:`tessera.boards.registry.board_device`: its core
behind the UART and the link), with pins ``rx`` and ``tx``. This module opens a pseudo-terminal
pair, writes the path of its terminal end to the file named by the ``path_file`` parameter, and
from then on carries every byte a program writes to that terminal onto ``rx``, bit by bit
(:class:`tessera.sim.uart.UartSource`), and every byte the board puts on ``tx``
(:class:`tessera.sim.uart.UartSink`) back to the terminal. A serial program, pyserial included,
then talks to the simulated board as to a real one.

It runs until the file named by ``stop_file`` appears, the process that started it goes away,
or ``max_seconds`` of wall time pass; it reports the bytes carried each way and the simulated
cycles, from which the link's throughput at the board's clock follows.

While nothing arrives for a while, each poll of the terminal waits up to a few milliseconds of
wall time, so an idle board does not spin a core.
"""

import os
import select
import time
import tty
from pathlib import Path

import cocotb
import cocotb.simtime
from cocotb.triggers import Timer
from tessera.sim import tb
from tessera.sim.uart import attach

#: Bytes taken from the terminal at a time (so the board's answers keep flowing meanwhile).
CHUNK = 64
#: Polls without traffic after which each poll may wait on the terminal in wall time.
IDLE_POLLS = 200
#: The simulated clock's period (simulated time is counted in cycles, not in seconds).
PERIOD_NS = 10


@cocotb.test()
async def serve(dut):
    p = tb.params()
    divisor = p["divisor"]
    source, sink = await attach(dut, divisor, period_ns=PERIOD_NS)
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    os.set_blocking(master, False)
    path_file = Path(p["path_file"])
    tmp = path_file.with_suffix(".tmp")
    tmp.write_text(os.ttyname(slave))
    tmp.replace(path_file)
    stop_file, parent = Path(p["stop_file"]), os.getppid()
    deadline = time.monotonic() + p.get("max_seconds", 3600)

    byte_time = 10 * divisor * PERIOD_NS
    counts = {"to_board": 0, "from_board": 0}
    start_ns = cocotb.simtime.get_sim_time("ns")
    running = True

    async def answer():
        while running:
            await Timer(byte_time, unit="ns")
            sent = counts["from_board"]
            if len(sink.received) > sent:
                data = bytes(sink.received[sent:])
                counts["from_board"] += os.write(master, data)

    answering = cocotb.start_soon(answer())
    idle, polls = 0, 0
    while True:
        polls += 1
        if polls % 64 == 0 and (stop_file.exists() or os.getppid() != parent
                                or time.monotonic() > deadline):
            break
        try:
            data = os.read(master, CHUNK)
        except (BlockingIOError, OSError):
            data = b""
        if data:
            idle = 0
            counts["to_board"] += len(data)
            await source.write(data)
            continue
        idle += 1
        if idle > IDLE_POLLS and len(sink.received) == counts["from_board"]:
            select.select([master], [], [], 0.005)
        await Timer(byte_time, unit="ns")
    running = False
    answering.cancel()
    sink.stop()
    os.close(master)
    os.close(slave)
    cycles = round((cocotb.simtime.get_sim_time("ns") - start_ns) / PERIOD_NS)
    tb.report(cycles=cycles, **counts)
