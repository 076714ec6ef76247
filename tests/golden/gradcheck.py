"""The finite-difference check of a network's back-propagation, for every test that trains."""

import numpy as np
import pytest


def assert_gradients_match(net, x, y, samples):
    """Check ``samples`` random weights of every weighted layer against central differences.

    Returns the gradients :meth:`~tessera.golden.nn.Network.gradients` gave (L2 of ``1e-3``).
    """
    _, grads = net.gradients(x, y, l2=1e-3)
    rng = np.random.default_rng(0)
    for i, layer in enumerate(net.layers):
        if not layer.kind.weighted:
            continue
        for _ in range(samples):
            r, c = rng.integers(layer.weight.shape[0]), rng.integers(layer.weight.shape[1])
            old = layer.weight[r, c]
            layer.weight[r, c] = old + 1e-6
            up, _ = net.gradients(x, y, l2=1e-3)
            layer.weight[r, c] = old - 1e-6
            down, _ = net.gradients(x, y, l2=1e-3)
            layer.weight[r, c] = old
            assert grads[i][0][r, c] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-7)
    return grads
