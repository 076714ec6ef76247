"""The system's Verilator model driven by a C++ loop, with no Python: the co-simulation's limit.

Issue 10 asks for the speed of ``make sim``'s system model beside the speed of the same
Verilator model with nothing but a C++ loop around it. :class:`CxxLoopTransport` builds that
model (:class:`tessera.hw.system.SystemTop`'s Verilog, cached like every other design) with a
small C++ driver that streams a program's command words into ``cmd`` (one a cycle while
``ready``) and keeps ``o`` ready. It is a transport like
:class:`tessera.sim.system.CosimTransport`, so :func:`tessera.sim.system.run_model` checks its
logits and every instruction's cycles against golden as it does co-simulation's.
"""

import os
import subprocess
import time
from pathlib import Path

import numpy as np
from tessera.golden.errors import TesseraError
from tessera.sim.system import CosimTransport

__all__ = ["CxxLoopTransport"]

#: The driver: argv = command words file (uint32 LE), output words expected, output file.
#: (Verilator escapes the double underscore of Amaranth's port names as ``___05F``.)
_MAIN = r"""
#include "Vtop.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 4) { std::fprintf(stderr, "usage: words expected out\n"); return 2; }
    std::vector<uint32_t> words;
    FILE* f = std::fopen(argv[1], "rb");
    uint32_t w;
    while (std::fread(&w, 4, 1, f) == 1) words.push_back(w);
    std::fclose(f);
    const size_t expected = std::strtoull(argv[2], nullptr, 10);
    std::vector<uint64_t> out;
    out.reserve(expected);
    VerilatedContext ctx;
    Vtop top{&ctx};
    top.rst = 1; top.cmd___05Fvalid = 0; top.o___05Fready = 1;
    for (int i = 0; i < 4; i++) { top.clk = 0; top.eval(); top.clk = 1; top.eval(); }
    top.rst = 0;
    size_t next = 0;
    uint64_t cycles = 0;
    const uint64_t limit = 1000ull * (words.size() + expected) + 10000000ull;
    auto start = std::chrono::steady_clock::now();
    while (out.size() < expected && cycles < limit) {
        top.cmd___05Fvalid = next < words.size();
        top.cmd___05Fpayload = next < words.size() ? words[next] : 0;
        top.clk = 0; top.eval();
        const bool take = top.cmd___05Fvalid && top.cmd___05Fready;
        const bool got = top.o___05Fvalid;
        const uint64_t payload = top.o___05Fpayload;
        top.clk = 1; top.eval();
        cycles++;
        if (take) next++;
        if (got) out.push_back(payload);
    }
    double seconds = std::chrono::duration<double>(
        std::chrono::steady_clock::now() - start).count();
    FILE* o = std::fopen(argv[3], "wb");
    std::fwrite(out.data(), 8, out.size(), o);
    std::fclose(o);
    std::printf("%llu %.6f\n", (unsigned long long)cycles, seconds);
    return out.size() == expected ? 0 : 1;
}
"""


def _build(config):
    from tessera.hw.system.top import SystemTop
    from tessera.sim.runner import Design, verilog
    from tessera.sim.toolchain import VERILATOR_BUILD_ARGS, configure_environment

    design = Design(SystemTop, **config.to_dict())
    source = verilog(design)
    folder = Path(source).parent / "cxxloop"
    binary = folder / "obj" / "Vtop"
    if binary.exists():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.cpp").write_text(_MAIN)
    configure_environment()
    command = ["verilator", "--cc", "--exe", "--build", "-O3", "--top-module", "top",
               "-Mdir", "obj", *VERILATOR_BUILD_ARGS, "-CFLAGS", "-O2", "-j", "2",
               str(source), "main.cpp"]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=os.environ)
    if done.returncode != 0 or not binary.exists():
        (folder / "build.log").write_text(done.stdout + done.stderr)
        raise TesseraError(f"the C++ loop's Verilator build failed; see {folder}/build.log")
    return binary


class CxxLoopTransport(CosimTransport):
    """:class:`~tessera.sim.system.CosimTransport`'s interface, run by the C++ loop: a read
    runs everything written since the transport was made, from reset. ``seconds`` is the
    loop's own time (the model's ``eval`` calls), without the build."""

    def _run(self):
        from tessera.sim.host.system import output_bytes, output_count

        usable = len(self._written) // 4 * 4
        words = np.frombuffer(bytes(self._written[:usable]), dtype="<u4")
        expected = output_count(words, self.config)
        binary = _build(self.config)
        folder = binary.parent.parent
        stamp = f"{os.getpid()}-{time.monotonic_ns()}"
        words_path, out_path = folder / f"words-{stamp}.bin", folder / f"out-{stamp}.bin"
        words_path.write_bytes(words.tobytes())
        try:
            done = subprocess.run([str(binary), words_path.name, str(expected), out_path.name],
                                  cwd=folder, capture_output=True, text=True)
            if done.returncode != 0:
                raise TesseraError("the C++ loop stopped before the program's last output word: "
                                   f"{done.stdout.strip() or done.stderr.strip()}")
            cycles, seconds = done.stdout.split()
            raw = np.frombuffer(out_path.read_bytes(), dtype="<u8")
        finally:
            words_path.unlink(missing_ok=True)
            out_path.unlink(missing_ok=True)
        self._out = output_bytes(int(v) for v in raw)
        self._simulated = usable
        self.simulated_cycles = int(cycles)
        self.seconds = float(seconds)
