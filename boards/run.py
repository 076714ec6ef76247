"""Run the compressed digits MLP on a board (real or simulated) through a serial transport.

The host side is the co-simulation's: :class:`tessera.sim.host.sparse.Program` builds the
command words, :class:`tessera.sim.link.HostLink` carries them (only the transport differs), the
board's sparse array runs fc1 -> fc2 -> fc3 on chip for each digit, and the logits and every
layer's counters are checked on the host against golden (``run_int8`` and the cycle model).
"""

import time

import numpy as np

__all__ = ["run_mlp"]


def _widths(core_spec):
    """The core's stream widths, from a core built only to read its signature (and dropped at
    once: an elaboratable never elaborated would warn)."""
    import warnings

    from amaranth.hdl import UnusedElaboratable
    from tessera.hw.link import stream_widths

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        core = core_spec.create()
        widths = stream_widths(core)
        del core
    return widths


def run_mlp(transport, name, *, samples=4, seed=0, model=None, host_timeouts=None,
            clock=time.monotonic):
    """Load the compressed MLP onto board ``name`` over ``transport``, run ``samples`` test
    digits, check them; return a dict of results and measurements.

    The dict holds ``matches_golden`` (logits and counters), ``logits`` / ``golden_logits``,
    ``load_bytes`` / ``load_seconds`` (the resident layers), ``link_bytes_per_second`` (command
    bytes over the whole run, wall time), ``cycles_per_inference`` (the three layers' compute
    and write-back cycles, from the board's counters) and ``latency_us`` at the board's clock.
    """
    from tessera.golden.data import load_digits_split
    from tessera.golden.inference import run_int8
    from tessera.golden.pipeline import compress
    from tessera.golden.sparse_cycles import matrix_cycles
    from tessera.sim.host.core_link import CoreLink
    from tessera.sim.host.sparse import Program, parse_stats, stats_words
    from tessera.sim.link import HostLink

    from .registry import board

    spec = board(name)
    config = spec.core.config
    if model is None:
        model = compress("mlp", seed).model
    matrices = [model.eie(layer, n_pes=config.n_pes) for layer in model.layers]
    data = load_digits_split()
    pick = np.random.default_rng(seed).choice(len(data.x_test), samples, replace=False)
    x_q = model.quantize_input(data.x_test[pick])
    golden, trace = run_int8(model, x_q, trace=True)

    program = Program(config)
    loaded = [program.load(m, layer.bias, layer.multiplier, layer.shift)
              for m, layer in zip(matrices, model.layers)]
    load_words = list(program.words)

    # Frames of half the board's command buffer (at most its max_payload): two in flight.
    device = spec.link_params()
    payload = min(device.get("buffer_bytes", 1024) // 2, device.get("max_payload", 1024))
    link = HostLink(transport, max_payload=payload, clock=clock, **(host_timeouts or {}))
    widths = _widths(spec.core)
    core = CoreLink(link, *widths)
    start = clock()
    link.connect()
    core.send(load_words)
    load_seconds = clock() - start
    load_bytes = core.bytes_sent

    n_stats = stats_words(config)
    logits, cycles_ok, cycles, mismatches = [], 0, [], []
    for s in range(samples):
        program.words = []
        program.activations(x_q[s].reshape(-1), matrices[0].cols)
        for n, (layer, lay) in enumerate(zip(model.layers, loaded)):
            program.run(lay, relu=layer.relu, emit=n == len(loaded) - 1)
            program.stats()
        core.send(program.words)
        total = 0
        for n, m in enumerate(matrices):
            last = n == len(matrices) - 1
            if last:
                logits.append(core.receive(m.rows, timeout=link.retransmit_after * link.tries))
            stats = parse_stats(core.receive(n_stats, timeout=link.retransmit_after * link.tries),
                                config)
            gold = matrix_cycles(m, trace.inputs[n][s].reshape(-1),
                                 fifo_depth=config.fifo_depth, emit=last)
            # The last layer's outputs leave through the link bridge, a byte a cycle, so its
            # write-back may wait on them: there the model's count is a lower bound.
            writeback_ok = (stats["writeback_cycles"] >= gold.writeback if last
                            else stats["writeback_cycles"] == gold.writeback)
            same = (stats["cycles"] == gold.cycles and writeback_ok
                    and np.array_equal(stats["busy"], gold.busy)
                    and np.array_equal(stats["stall"], gold.stall))
            cycles_ok += same
            if not same:
                mismatches.append({"sample": s, "layer": n,
                                   "cycles": [stats["cycles"], gold.cycles],
                                   "writeback": [stats["writeback_cycles"], gold.writeback],
                                   "busy": [stats["busy"].tolist(), gold.busy.tolist()],
                                   "stall": [stats["stall"].tolist(), gold.stall.tolist()],
                                   "errors": stats["errors"]})
            total += stats["cycles"] + stats["writeback_cycles"]
        cycles.append(total)
    seconds = clock() - start
    logits = np.array(logits, dtype=np.int64)
    logits_ok = int((logits == golden.astype(np.int64)).all(axis=1).sum())
    per_inference = float(np.mean(cycles))
    return {
        "board": name,
        "samples": samples,
        "matches_golden": logits_ok == samples and cycles_ok == samples * len(matrices),
        "logits_match": logits_ok,
        "counters_match": cycles_ok,
        "counter_mismatches": mismatches,
        "logits": logits.tolist(),
        "golden_logits": golden.astype(np.int64).tolist(),
        "load_bytes": load_bytes,
        "load_seconds": load_seconds,
        "bytes_sent": core.bytes_sent,
        "bytes_received": core.bytes_received,
        "seconds": seconds,
        "link_bytes_per_second": core.bytes_sent / seconds if seconds else 0.0,
        "retransmissions": link.retransmissions,
        "cycles_per_inference": per_inference,
        "latency_us": per_inference / spec.core_hz * 1e6,
    }
