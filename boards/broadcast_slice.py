"""The sparse array's broadcast alone, for a quick out-of-context check of its timing.

``python -m tessera.boards.broadcast_slice [--pes 16] [--handshake]`` synthesizes, places and
routes :class:`BroadcastSlice` for the ECP5-85F (:func:`tessera.boards.synth.synthesize`, cached
under ``build/synth/``) and prints its Fmax and critical path. It takes a few minutes where the
full 16-PE array takes over an hour.

The slice holds every cell on the broadcast's paths in a :class:`tessera.hw.sparse.SparseArray`
of ``n_pes`` PEs: the non-zero detector (its group registers, the LNZD tree, ``take``), the
:class:`tessera.hw.sparse.broadcast.Broadcast` and ``n_pes`` activation queues with their
almost-full flags. What lies beyond (the detector's source buffers, each queue's reader, the
counters) is replaced by ports, which out of context are free. So the slice has the same
logic between the same flip-flops as the array's broadcast, with the same 16-way fan-out;
what it lacks is the spread of 16 PEs across the die, which adds routing to every path that
crosses between PEs, the broadcast's most.

``handshake=True`` builds the combinational handshake the registered broadcast replaced
(issue 12): every queue's ``ready`` ANDed, then ``valid`` to every queue, in one cycle. It
exists only as the reference of this measurement.
"""

import argparse

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import ACT_WIDTH, FIELD_WIDTH, SparseConfig
from tessera.golden.errors import TesseraError
from tessera.hw.sparse.broadcast import Broadcast
from tessera.hw.sparse.detector import NonZeroDetector
from tessera.hw.sparse.queue import ActivationQueue, column_layout

__all__ = ["BroadcastSlice", "critical_path"]


class BroadcastSlice(wiring.Component):
    """Detector, broadcast and queues of an ``n_pes`` sparse array (see the module docstring).

    Parameters
    ----------
    n_pes : int
        PEs (queues), 1..64.
    fifo_depth : int
        Queue depth, 2..64.
    handshake : bool
        Build the old combinational handshake instead of the registered broadcast.

    Members
    -------
    start, cols : In
        The detector's layer start.
    rd_en, rd_addr : Out
        The detector's reads of the source buffers.
    lanes : In(data.ArrayLayout(signed(8), n_pes))
        What those reads returned.
    q : Out(stream.Signature(column_layout)).array(n_pes)
        Each queue's output, read by its PE.
    """

    def __init__(self, *, n_pes=16, fifo_depth=8, handshake=False):
        self.config = SparseConfig(n_pes=n_pes, fifo_depth=fifo_depth)
        self.handshake = bool(handshake)
        super().__init__({
            "start": In(1),
            "cols": In(FIELD_WIDTH),
            "rd_en": Out(1),
            "rd_addr": Out(ceil_log2(self.config.act_depth) or 1),
            "lanes": In(data.ArrayLayout(signed(ACT_WIDTH), n_pes)),
            "q": Out(stream.Signature(column_layout)).array(n_pes),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.detector = det = NonZeroDetector(cfg)
        m.d.comb += [det.start.eq(self.start), det.cols.eq(self.cols), det.lanes.eq(self.lanes),
                     self.rd_en.eq(det.rd_en), self.rd_addr.eq(det.rd_addr)]
        queues = [ActivationQueue(depth=cfg.fifo_depth) for _ in range(cfg.n_pes)]
        for k, queue in enumerate(queues):
            m.submodules[f"queue{k}"] = queue
            wiring.connect(m, queue.o, wiring.flipped(self.q[k]))
        if self.handshake:
            all_ready = Cat(queue.i.ready for queue in queues).all()
            m.d.comb += det.o.ready.eq(all_ready)
            for queue in queues:
                m.d.comb += [queue.i.valid.eq(det.o.valid & all_ready),
                             queue.i.payload.eq(det.o.payload)]
            return m
        m.submodules.broadcast = bcast = Broadcast(n_pes=cfg.n_pes)
        wiring.connect(m, det.o, bcast.i)
        for k, queue in enumerate(queues):
            m.d.comb += [bcast.almost_full[k].eq(queue.almost_full),
                         queue.i.valid.eq(bcast.o.valid), queue.i.payload.eq(bcast.o.payload)]
        return m


def critical_path(report):
    """Summarize nextpnr's critical path (its ``report.json``, parsed): a dict with the start and
    end cells, the logic and routing delays in ns, and the nets on the path in order."""
    path = report["critical_paths"][0]["path"]
    logic = sum(step["delay"] for step in path if step["type"] != "routing")
    routing = sum(step["delay"] for step in path if step["type"] == "routing")
    return {"from": path[0]["from"]["cell"], "to": path[-1]["to"]["cell"],
            "logic_ns": round(logic, 2), "routing_ns": round(routing, 2),
            "nets": [step["net"] for step in path if step.get("net")]}


def main(argv=None):
    import json
    from pathlib import Path

    from tessera.sim.runner import Design

    from .synth import synthesize

    parser = argparse.ArgumentParser(prog="python -m tessera.boards.broadcast_slice",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pes", type=int, default=16, help="PEs (16)")
    parser.add_argument("--handshake", action="store_true",
                        help="the old combinational handshake, for comparison")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (1)")
    args = parser.parse_args(argv)
    name = f"broadcast-{args.pes}pe-{'handshake' if args.handshake else 'registered'}-ecp5"
    design = Design(BroadcastSlice, n_pes=args.pes, handshake=args.handshake)
    try:
        r = synthesize(design, "ecp5-85f", freq_mhz=100, seed=args.seed, name=name)
    except TesseraError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(f"{name}: {r['luts']} LUTs, {r['ffs']} FFs, Fmax {r['fmax_mhz']} MHz "
          f"({r['seconds']} s)")
    if r["fits"]:
        path = critical_path(json.loads((Path(r["folder"]) / "report.json").read_text()))
        print(f"critical path: {path['from']} -> {path['to']}: {path['logic_ns']} ns logic, "
              f"{path['routing_ns']} ns routing")
        print("  nets: " + " -> ".join(path["nets"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
