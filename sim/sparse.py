"""The sparse PE array on the simulator: size a design, run command words, check against golden.

The library behind ``tessera spmv`` (:func:`spmv_on_array`), the demo's sparse section
(:func:`demo_section`) and the sparse benchmark: :func:`array_design` sizes an array for some
matrices, :func:`execute` runs command words (from :class:`tessera.sim.host.sparse.Program`) on
it, :func:`prepare_weights` encodes a matrix in EIE's format. The capacity limits are the
configuration's (:class:`tessera.golden.config.SparseConfig`), which the host encoder checks.
"""

import time

import numpy as np
from tessera.golden.config.sparse import MAX_FIELD, SparseConfig

__all__ = ["array_design", "demo_section", "execute", "prepare_weights", "spmv_on_array"]

def _pow2(value, low):
    return max(low, 1 << max(0, int(value) - 1).bit_length())


def array_design(matrices, *, n_pes, fifo_depth, rel_bits=4, index_bits=4, weight_width=8):
    """Return the :class:`tessera.sim.runner.Design` of an array whose memories hold ``matrices``.

    Memory depths are rounded up to powers of two (so that similar inputs share one simulator
    build); column pointers have the configuration's default width (16 bits, EIE's), so a PE
    holds at most 65,535 entries, and a vector is at most :data:`MAX_FIELD` long (the RUN
    command's 16-bit fields).

    Raises
    ------
    tessera.golden.errors.TesseraError
        When the matrices do not fit: a vector longer than 65,535, or a PE with more entries
        than 16-bit pointers address.
    """
    from tessera.golden.errors import TesseraError
    from tessera.hw.sparse import SparseArray
    from tessera.sim.runner import Design

    ptr_bits = SparseConfig.ptr_bits
    per_word = 8 if index_bits + rel_bits <= 8 else 4
    longest = max([1] + [max(m.rows, m.cols) for m in matrices])
    if longest > MAX_FIELD:
        raise TesseraError(f"a vector of {longest} activations is longer than the "
                           f"{MAX_FIELD} the array's 16-bit fields count")
    entries = np.zeros(n_pes, dtype=np.int64)
    pointers = params = 0
    for m in matrices:
        words = -(-m.col_ptr[:, -1] // per_word)
        entries += words * per_word
        pointers += m.cols + 1 + (m.cols + 1) % 2
        params += int(m.rows_per_pe[0]) if m.rows else 0
    need = int(entries.max(initial=0))
    limit = (2**ptr_bits - 1) // per_word * per_word
    if need > limit:
        k = int(np.argmax(entries))
        raise TesseraError(
            f"the matrix is too large for the configured memories: PE {k} needs {need:,} "
            f"entries, more than the {limit:,} that {ptr_bits}-bit column pointers address; "
            f"use more --pes")
    spmat = min(_pow2(-(-need // per_word), 16), limit // per_word)
    act = _pow2(-(-longest // n_pes), 16)
    if act * n_pes > MAX_FIELD:
        act = -(-longest // n_pes)
    config = SparseConfig(
        n_pes=n_pes, fifo_depth=fifo_depth, index_bits=index_bits, rel_bits=rel_bits,
        weight_width=weight_width, entries_per_word=per_word, ptr_bits=ptr_bits,
        spmat_depth=spmat, ptr_depth=min(_pow2(pointers, 32), MAX_FIELD),
        act_depth=act, param_depth=_pow2(params, 16))
    return Design(SparseArray, **config.params())


def execute(design, words, outputs, *, sim, seed=0, ready=None, limit=1_000_000):
    """Run command words on ``design``; return ``(output words, report)``.

    ``outputs`` is the number of words the commands make the array send (layer outputs with
    ``emit``, STATS readouts). ``limit`` is the number of cycles without progress (no command
    taken, no output) after which the run fails as a hang: longer than the longest layer. The
    report holds ``cycles`` (simulated, from after reset) and ``seconds`` (wall time of the
    simulation loop).
    """
    from tessera.hw.sparse.protocol import command_layout
    from tessera.sim.host.words import words_to_array
    from tessera.sim.runner import simulate

    width = command_layout(SparseConfig(**design.params)).size
    params = {"width": width, "outputs": int(outputs), "limit": int(limit)}
    if ready:
        params["ready"] = list(ready)
    result = simulate(design, "tessera.sim.cosim.spmv", sim=sim, seed=seed, params=params,
                      inputs={"words": words_to_array(words, width)})
    return result.outputs["out"].astype(np.int64), result.report


def prepare_weights(w, *, bits, rel_bits, n_pes, quantize=False):
    """Encode an integer matrix exactly, or (``quantize``) through a k-means codebook.

    Returns ``(matrix, W actually used, note)``.
    """
    from tessera.golden.eie import encode
    from tessera.golden.errors import TesseraError, check_int_array
    from tessera.golden.share import kmeans_1d

    w = np.asarray(w)
    if w.ndim != 2:
        raise TesseraError(f"W must be a 2-D matrix, not {w.ndim}-D with shape {w.shape}")
    if w.dtype == np.bool_ or not np.issubdtype(w.dtype, np.integer):
        raise TesseraError(f"W must be an integer matrix, not {w.dtype} (the sparse engine "
                           f"takes integer weights; quantize them first)")
    if not 1 <= bits <= 8:
        raise TesseraError(f"--bits must be in 1..8, not {bits}")
    # In W's own dtype: a uint64 2**64 - 1 is refused, not wrapped to -1.
    w = check_int_array(w, "W (16-bit signed codebook entries)", low=-(2**15),
                        high=2**15 - 1, ndim=2)
    values = np.unique(w[w != 0])
    room = 2**bits - 1
    note = f"{values.size} distinct non-zero values, exact {bits}-bit codebook"
    if values.size > room:
        if not quantize:
            raise TesseraError(
                f"W has {values.size} distinct non-zero values; a {bits}-bit codebook holds "
                f"{room} besides the padding code 0: use more --bits or --quantize")
        nonzero = w != 0
        centroids, labels = kmeans_1d(w[nonzero], room)
        book = np.round(centroids).astype(np.int64)
        quantized = np.zeros_like(w)
        quantized[nonzero] = book[labels]
        error = int(np.abs(quantized - w).max())
        note = (f"{values.size} distinct non-zero values quantized to a {bits}-bit k-means "
                f"codebook (max |W - Wq| = {error})")
        w = quantized
        values = np.unique(w[w != 0])
    codebook = np.concatenate([[0], values]).astype(np.int64)
    indices = np.searchsorted(values, w) + 1
    indices[w == 0] = 0
    matrix = encode(indices, codebook, n_pes=n_pes, rel_bits=rel_bits, index_bits=bits)
    return matrix, w, note


def spmv_on_array(w, x, *, n_pes=SparseConfig.n_pes, fifo_depth=SparseConfig.fifo_depth,
                  sim="verilator", raw=False, relu=False, scale=None, bias=None,
                  bits=SparseConfig.index_bits, rel_bits=SparseConfig.rel_bits, quantize=False,
                  seed=0):
    """Compute ``y = W x`` on the simulated array and check it; return a dict of figures.

    The dict holds ``y`` (int8 or, with ``raw``, int32), the counters, the golden predictions
    and ``match_values`` / ``match_cycles``.
    """
    from tessera.golden.eie import spmv
    from tessera.golden.errors import TesseraError, check_int, check_int_array
    from tessera.golden.quant import quantize_multiplier, requantize
    from tessera.golden.sparse_cycles import matrix_cycles
    from tessera.sim.host.sparse import Program, parse_stats, stats_words

    try:
        check_int(n_pes, "--pes", 1, 64)
        check_int(fifo_depth, "--fifo-depth", 2, 64)
        check_int(rel_bits, "--rel-bits", 1, 8)
    except (TypeError, ValueError) as error:
        raise TesseraError(str(error)) from None
    matrix, w_used, note = prepare_weights(w, bits=bits, rel_bits=rel_bits, n_pes=n_pes,
                                           quantize=quantize)
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TesseraError(f"x must be an int8 vector, not {x.dtype} (convert it with "
                           f"x.astype(np.int8) if its values fit)")
    if x.shape != (matrix.cols,):
        raise TesseraError(f"x must have shape ({matrix.cols},) to match W's {matrix.cols} "
                           f"columns, not {x.shape}")
    rows = matrix.rows
    acc = spmv(matrix, x).y.astype(np.int64)  # raises on an int32 overflow
    if bias is None:
        bias = np.zeros(rows, dtype=np.int64)
    bias = np.asarray(bias)
    if bias.dtype == np.bool_ or not np.issubdtype(bias.dtype, np.integer) or \
            bias.shape != (rows,):
        raise TesseraError(f"the bias must be {rows} integers, not {bias.dtype} {bias.shape}")
    bias = check_int_array(bias, "the bias (int32)", low=-(2**31), high=2**31 - 1, ndim=1)
    if scale is None:
        peak = int(np.abs(acc + bias).max(initial=0))
        scale = 127.0 / peak if peak else 1.0
    multiplier, shift = quantize_multiplier(scale)
    expected = acc if raw else requantize(acc, bias, multiplier, shift, relu=relu)
    model = matrix_cycles(matrix, x, fifo_depth=fifo_depth)

    weight_width = 8 if np.abs(matrix.codebook).max(initial=0) <= 127 and \
        matrix.codebook.min(initial=0) >= -128 else 16
    design = array_design([matrix], n_pes=n_pes, fifo_depth=fifo_depth, rel_bits=rel_bits,
                          index_bits=bits, weight_width=weight_width)
    config = SparseConfig(**design.params)
    program = Program(config)
    layer = program.load(matrix, bias, multiplier, shift)
    program.activations(x, matrix.cols)
    program.run(layer, relu=relu, raw=raw, emit=True)
    program.stats()
    out, report = execute(design, program.words, rows + stats_words(config), sim=sim, seed=seed,
                          limit=2 * model.total + 10_000)
    y = out[:rows]
    stats = parse_stats(out[rows:], config)
    padding = int((matrix.padding * (x != 0)).sum())
    match_cycles = (stats["cycles"] == model.cycles and stats["nonzeros"] == model.nonzeros
                    and stats["writeback_cycles"] == model.writeback
                    and np.array_equal(stats["busy"], model.busy)
                    and np.array_equal(stats["stall"], model.stall))
    busy = stats["busy"]
    cycles = stats["cycles"]
    return {
        "y": y.astype(np.int32 if raw else np.int8),
        "shape": list(matrix.shape),
        "nnz": matrix.nnz,
        "codebook": note,
        "pes": n_pes,
        "fifo_depth": fifo_depth,
        "simulator": sim,
        "raw": raw,
        "multiplier": None if raw else int(multiplier),
        "shift": None if raw else int(shift),
        "cycles": cycles + stats["writeback_cycles"],
        "compute_cycles": cycles,
        "writeback_cycles": stats["writeback_cycles"],
        "nonzero_activations": stats["nonzeros"],
        "entries": int(busy.sum()),
        "padding": padding,
        "load_balance": float(busy.mean() / cycles) if cycles else 1.0,
        "entries_per_cycle_per_pe": float(busy.sum() / cycles / n_pes) if cycles else 0.0,
        "busy": busy.tolist(),
        "stall": stats["stall"].tolist(),
        "errors": stats["errors"],
        "golden_cycles": model.cycles,
        "golden_writeback_cycles": model.writeback,
        "match_values": bool(np.array_equal(y, expected)),
        "match_cycles": bool(match_cycles),
        "simulated_cycles": report["cycles"],
        "seconds": report["seconds"],
        "quantized": not np.array_equal(w_used, np.asarray(w, dtype=np.int64)),
    }


def demo_section(seed: int, sim: str, shared=None, *, model=None) -> tuple[list[str], bool]:
    """Run the compressed digits MLP on a simulated 4-PE sparse array; return (lines, ok).

    All three FC layers are loaded once; each test digit is loaded as int8 activations and
    runs fc1 -> fc2 -> fc3 on chip (each layer reads the previous one's outputs from the
    swapped buffers); only the logits go back to the host. Every layer's counters and the
    logits are checked against golden (run_int8 and the cycle model). ``model`` is the
    compressed tessera.golden.inference.QModel to run; by default
    ``tessera.golden.pipeline.compress("mlp",
    seed)`` (about 4 s with the float model cached): pass one (or leave it in ``shared["model"]``,
    as the demo's compression section does) to avoid compressing twice.
    """
    from tessera.golden.data import load_digits_split
    from tessera.golden.inference import run_int8
    from tessera.golden.pipeline import compress
    from tessera.golden.sparse_cycles import matrix_cycles
    from tessera.sim.host.sparse import Program, parse_stats, stats_words

    samples = 12
    if model is None and shared:
        model = shared.get("model")
    start = time.perf_counter()
    if model is None:
        model = compress("mlp", seed).model

    data = load_digits_split()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(data.x_test), samples, replace=False)
    x_q = model.quantize_input(data.x_test[pick])
    labels = np.asarray(data.y_test)[pick]
    logits, trace = run_int8(model, x_q, trace=True)
    matrices = [model.eie(layer) for layer in model.layers]
    design = array_design(matrices, n_pes=model.n_pes, fifo_depth=8, rel_bits=model.rel_bits,
                          index_bits=max(layer.bits for layer in model.layers))
    config = SparseConfig(**design.params)
    program = Program(config)
    loaded = [program.load(m, layer.bias, layer.multiplier, layer.shift)
              for m, layer in zip(matrices, model.layers)]
    expected_outputs = 0
    models = []
    for s in range(samples):
        program.activations(x_q[s].reshape(-1), matrices[0].cols)
        for n, (layer, m, lay) in enumerate(zip(model.layers, matrices, loaded)):
            last = n == len(matrices) - 1
            program.run(lay, relu=layer.relu, emit=last)
            program.stats()
            expected_outputs += (m.rows if last else 0) + stats_words(config)
            models.append(matrix_cycles(m, trace.inputs[n][s].reshape(-1), fifo_depth=8,
                                        emit=last))
    out, report = execute(design, program.words, expected_outputs, sim=sim, seed=seed)

    pos = 0
    got_logits, cycles_ok, per_inference, busy, compute = [], 0, 0, 0.0, 0
    for s in range(samples):
        for n, m in enumerate(matrices):
            last = n == len(matrices) - 1
            if last:
                got_logits.append(out[pos:pos + m.rows])
                pos += m.rows
            stats = parse_stats(out[pos:pos + stats_words(config)], config)
            pos += stats_words(config)
            gold = models[s * len(matrices) + n]
            cycles_ok += (stats["cycles"] == gold.cycles
                          and stats["writeback_cycles"] == gold.writeback
                          and np.array_equal(stats["busy"], gold.busy)
                          and np.array_equal(stats["stall"], gold.stall))
            per_inference += stats["cycles"] + stats["writeback_cycles"]
            compute += stats["cycles"]
            busy += float(stats["busy"].sum()) / config.n_pes
    got_logits = np.array(got_logits)
    logits_ok = int((got_logits == logits.astype(np.int64)).all(axis=1).sum())
    layers = samples * len(matrices)
    predicted = np.argmax(got_logits, axis=1)
    rate = report["cycles"] / report["seconds"] if report["seconds"] else 0.0
    entries = sum(m.n_entries for m in matrices)
    ok = logits_ok == samples and cycles_ok == layers
    lines = [
        f"[Sparse] the compressed digits MLP {'-'.join(str(m.cols) for m in matrices[:1])}-"
        f"{'-'.join(str(m.rows) for m in matrices)} on {config.n_pes} EIE-style sparse PEs "
        f"(queue depth 8) on {sim}",
        f"     {entries:,} entries resident; {samples} test digits, each through "
        f"fc1 -> fc2 -> fc3 on chip (swapped activation buffers)",
        f"     logits match golden run_int8: {logits_ok}/{samples}; counters match the "
        f"golden cycle model: {cycles_ok}/{layers} layers",
        f"     {per_inference / samples:,.0f} cycles per inference, load balance "
        f"{100 * busy / compute:.1f}%; predicted {int((predicted == labels).sum())}/{samples} "
        f"digits correctly",
        f"     {report['cycles']:,} cycles simulated in {report['seconds']:.1f} s "
        f"({rate:,.0f} cycles/s; {time.perf_counter() - start:.1f} s in all)",
    ]
    return lines, ok
