"""The host encoder of the systolic GEMM engine: a GEMM in, the words of its four streams out.

No simulator: the same words drive a simulation (:mod:`tessera.sim.cosim.gemm`) or, later, a
board. Every word is packed through the protocol's layouts
(:mod:`tessera.hw.systolic.protocol`); the order of the operand words and of the results is the
golden model's (:func:`tessera.golden.systolic.pack_a`, :func:`~tessera.golden.systolic.pack_b`,
:func:`~tessera.golden.systolic.unpack_results`).

Typical use::

    words = gemm_words(config, a, b, relu=True, bias=bias, multiplier=m, shift=s)
    words.cmd, words.a, words.b, words.q        # lists of ints, one per transfer
    values, lanes = result_values(config, o_words)  # the result stream's words, unpacked
"""

from dataclasses import dataclass

import numpy as np
from tessera.golden.systolic import pack_a, pack_b
from tessera.hw.systolic.protocol import (
    command_layout,
    operand_layout,
    quant_layout,
    result_layout,
)

from .words import decode_fields, encode

__all__ = ["GemmWords", "command_words", "gemm_words", "operand_words", "quant_words",
           "result_values"]


@dataclass(frozen=True)
class GemmWords:
    """The words of one GEMM on each of the engine's input streams."""

    cmd: list
    a: list
    b: list
    q: list


def command_words(config, m, k, n, *, relu=False, raw=False):
    """Return the ``cmd`` word of an M x K x N GEMM (checked against ``config``), as a list."""
    config.check(m, k, n)
    return [encode(command_layout(config), {"m": int(m), "k": int(k), "n": int(n),
                                            "relu": int(bool(relu)), "raw": int(bool(raw))})]


def operand_words(lanes):
    """Turn int8 lane arrays (words, lanes), as ``pack_a``/``pack_b`` return, into words."""
    lanes = np.asarray(lanes, dtype=np.int8)
    layout = operand_layout(lanes.shape[1])
    return [encode(layout, row) for row in lanes.tolist()]


def quant_words(config, n, bias, multiplier, shift):
    """Return the ``q`` words of ``n`` output columns (scalars broadcast to every column)."""
    layout = quant_layout(config.acc_width)
    columns = zip(*(np.broadcast_to(np.asarray(x, dtype=np.int64), (n,)).tolist()
                    for x in (bias, multiplier, shift)))
    return [encode(layout, {"bias": b, "multiplier": m, "shift": s}) for b, m, s in columns]


def gemm_words(config, a, b, *, relu=False, raw=False, bias=0, multiplier=1, shift=0):
    """Return the :class:`GemmWords` of ``a @ b`` on ``config`` (no ``q`` words when raw)."""
    (m, k), n = np.shape(a), np.shape(b)[1]
    cmd = command_words(config, m, k, n, relu=relu, raw=raw)
    q = [] if raw else quant_words(config, n, bias, multiplier, shift)
    return GemmWords(cmd, operand_words(pack_a(a, config)), operand_words(pack_b(b, config)), q)


def result_values(config, words):
    """Unpack words of the ``o`` stream (:func:`~tessera.hw.systolic.protocol.result_layout`).

    Returns ``(values, lanes)``: the valid results of every word, in stream order (int64,
    ``lanes[i]`` of word ``i``), and the lane count ``n`` of each word (int64). A word whose
    ``n`` is 0 or above ``config.lanes`` raises :class:`ValueError`.
    """
    layout = result_layout(config.lanes, config.acc_width)
    values, lanes = [], []
    for word in words:
        fields = decode_fields(layout, word)
        n = fields["n"]
        if not 1 <= n <= config.lanes:
            raise ValueError(f"a result word carries n = {n} lanes (1..{config.lanes})")
        lanes.append(n)
        values.extend(fields["data"][i] for i in range(n))
    return np.asarray(values, dtype=np.int64), np.asarray(lanes, dtype=np.int64)
