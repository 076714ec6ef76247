"""Whole-CNN inference on the system: cycles per image, per instruction, and the share of control.

The digits CNN (``compress("cnn", 0)``) is compiled for ``tessera run``'s system
(:func:`tessera.sim.system.default_config`: 8 x 8 systolic array, 4 sparse PEs) and every test
digit runs through the golden executor, whose cycles the hardware equals: a few digits also run
on the Verilator model, in cocotb co-simulation and in a C++ loop with no Python
(:mod:`tessera.sim.cxxloop`), and the run fails unless their logits and every instruction's
cycles equal the executor's. Printed and returned: cycles per image (mean, min, max); per
instruction its mean cycles, its share and the part its unit computed
(:attr:`tessera.golden.executor.Retired.compute`); the share of the cycles spent moving data and
in control (headers, dispatch, LOADs, READ, BARRIER, the activation transfers into the sparse
engine): issue 10's target is at most 10%; and the simulated cycles per second of both runs
(issue 10's target for co-simulation: 100,000; the C++ loop is the limit).
"""

import numpy as np

TITLE = "whole-CNN inference on the system: cycles per image, per instruction, control share"

#: Digits also run on the Verilator model, in co-simulation and in a C++ loop, to check the
#: executor's cycles and to measure simulated cycles per second.
SPEED_DIGITS = 32
#: Issue 10's target for the co-simulation's speed (simulated cycles per second).
TARGET_SPEED = 100_000
#: Issue 10's target for the share of control and data movement.
TARGET_SHARE = 0.10


def _labels(program):
    """The name of each instruction of an inference, STATS excepted."""
    from tessera.golden.isa import Op, Space

    body = [None] * len(program.body)
    for plan in program.layers:
        for i in plan.instructions:
            instr = program.body[i]
            what = (f"LOAD {Space(instr.space).name}" if instr.op == Op.LOAD
                    else instr.op.name)
            body[i] = f"{plan.name} {what}"
    return ["input LOAD", *body, "READ logits", "BARRIER"]


def run():
    from tessera.golden.compiler import compile_model
    from tessera.golden.data import load_digits_split
    from tessera.golden.executor import run_program
    from tessera.golden.pipeline import compress
    from tessera.sim.cxxloop import CxxLoopTransport
    from tessera.sim.system import CosimTransport, default_config, run_model

    model = compress("cnn", 0).model
    config = default_config()
    program = compile_model(model, config)
    x = model.quantize_input(load_digits_split().x_test)
    golden = run_program(program, x)
    labels = _labels(program)
    cycles = np.array([[r.cycles for r in retired[:-1]] for retired in golden.retired])
    compute = np.array([[r.compute for r in retired[:-1]] for retired in golden.retired])
    assert cycles.sum(axis=1).tolist() == golden.cycles
    total = cycles.sum(axis=1)
    share = 1 - compute.sum() / cycles.sum()
    rows = [{"instruction": label, "cycles": round(float(c), 1), "share": round(float(s), 4),
             "compute": round(float(k), 1)}
            for label, c, s, k in zip(labels, cycles.mean(axis=0),
                                      cycles.sum(axis=0) / cycles.sum(),
                                      compute.mean(axis=0))]
    print(f"   {model.name} on {config.systolic.rows}x{config.systolic.cols} systolic + "
          f"{config.sparse.n_pes} sparse PEs, {len(x)} test digits (golden executor): "
          f"{total.mean():,.1f} cycles per image (min {total.min():,}, max {total.max():,})")
    print(f"   {'instruction':<22} {'cycles':>8} {'share':>7} {'compute':>8}")
    for r in rows:
        print(f"   {r['instruction']:<22} {r['cycles']:>8,.1f} {r['share']:>7.1%} "
              f"{r['compute']:>8,.1f}")
    verdict = "meets" if share <= TARGET_SHARE else "misses"
    print(f"   control and data movement: {share:.1%} of the cycles ({verdict} the "
          f"{TARGET_SHARE:.0%} target)")

    speeds = {}
    for name, transport in (("cocotb", CosimTransport(config, sim="verilator")),
                            ("cxx_loop", CxxLoopTransport(config))):
        hardware = run_model(program, x[:SPEED_DIGITS], transport)
        if not (hardware.matches_golden and hardware.cycles_match and hardware.errors == 0):
            raise AssertionError(f"the system ({name}) differs from the golden executor")
        speeds[name] = transport.simulated_cycles / transport.seconds
    print(f"   Verilator, {SPEED_DIGITS} digits, logits and every instruction's cycles equal the "
          f"executor's: cocotb co-simulation {speeds['cocotb']:,.0f} cycles/s (target "
          f"{TARGET_SPEED:,}); the same model in a C++ loop, no Python "
          f"(tessera.sim.cxxloop): {speeds['cxx_loop']:,.0f} cycles/s")
    return {"model": model.name, "config": config.to_dict(), "images": len(x),
            "cycles_mean": round(float(total.mean()), 1), "cycles_min": int(total.min()),
            "cycles_max": int(total.max()), "instructions": rows,
            "control_share": round(float(share), 4), "target_share": TARGET_SHARE,
            "cosim_digits": SPEED_DIGITS, "cosim_equals_golden": True,
            "cosim_cycles_per_second": round(speeds["cocotb"]),
            "cxx_loop_cycles_per_second": round(speeds["cxx_loop"]),
            "target_cycles_per_second": TARGET_SPEED}
