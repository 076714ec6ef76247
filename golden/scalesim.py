"""SCALE-Sim 3.0's conventional systolic array, as closed forms: the yardstick of issue 10.

SCALE-Sim (Samajdar et al.; version 3.0) models an ``R x C`` array that drains ``C`` results a
cycle. For one GEMM ``M x K @ K x N`` its cycle count reduces to:

- weight-stationary: ``ceil(K/R) * ceil(N/C) * (2R + C + M - 2) - 1``: each ``R x C`` weight
  tile is filled (R cycles), ``M`` rows stream through it and the last one crosses the array
  (``R + C - 2``), tiles one after another;
- output-stationary: ``ceil(M/R) * ceil(N/C) * (K + R + C - 2) - 1``.

These reproduce SCALE-Sim's output to the cycle on the workloads of issue 10 (e.g. LeNet-5's
conv1, 576 x 25 @ 25 x 6 on 16 x 16, weight-stationary: 1,243 cycles; 48 x 40 @ 40 x 36 on
8 x 8: 1,749). Utilization is ``M * K * N / (R * C * cycles)``, as for tessera's engine
(:func:`tessera.golden.systolic.gemm_cycles`).
"""

from .errors import check_choice, check_int

__all__ = ["scalesim_cycles", "scalesim_utilization"]


def _ceil_div(a, b):
    return -(-a // b)


def scalesim_cycles(m, k, n, *, rows, cols, dataflow):
    """Return SCALE-Sim 3.0's cycles of an ``m x k @ k x n`` GEMM on a ``rows x cols`` array.

    ``dataflow`` is ``"ws"`` (weight-stationary) or ``"os"`` (output-stationary).
    """
    m, k, n = (check_int(v, name, 1, 2**31) for v, name in ((m, "M"), (k, "K"), (n, "N")))
    r, c = check_int(rows, "rows", 1, 2**16), check_int(cols, "cols", 1, 2**16)
    check_choice(dataflow, "dataflow", ("ws", "os"))
    if dataflow == "ws":
        return _ceil_div(k, r) * _ceil_div(n, c) * (2 * r + c + m - 2) - 1
    return _ceil_div(m, r) * _ceil_div(n, c) * (k + r + c - 2) - 1


def scalesim_utilization(m, k, n, *, rows, cols, dataflow):
    """``M * K * N`` over ``rows * cols`` MACs times :func:`scalesim_cycles`."""
    cycles = scalesim_cycles(m, k, n, rows=rows, cols=cols, dataflow=dataflow)
    return m * k * n / (rows * cols * cycles)
