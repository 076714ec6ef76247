"""The im2col address stream: gathering activation memory through it gives pack_a(im2col)."""

import numpy as np
import pytest
from tessera.golden.errors import TesseraError
from tessera.golden.gemm import im2col
from tessera.golden.im2col_stream import ZERO, im2col_addresses
from tessera.golden.isa import Conv
from tessera.golden.system_config import SystolicConfig
from tessera.golden.systolic import pack_a


def random_conv(rng):
    h, w, c = (int(x) for x in rng.integers(1, 8, size=3))
    pad = int(rng.integers(0, 3))
    kernel = int(rng.integers(1, min(h, w) + 2 * pad + 1))
    stride = int(rng.integers(1, 4))
    oh = (h + 2 * pad - kernel) // stride + 1
    row0 = int(rng.integers(0, oh))
    return Conv(in_base=int(rng.integers(0, 50)), out_base=0, w_base=0, q_base=0, h=h, w=w,
                c=c, oc=1, kernel=kernel, stride=stride, padding=pad, row0=row0,
                rows=int(rng.integers(1, oh - row0 + 1)))


@pytest.mark.parametrize("seed", range(60))
def test_gather_equals_pack_a_of_im2col(seed):
    rng = np.random.default_rng(seed)
    conv = random_conv(rng)
    config = SystolicConfig(rows=int(rng.integers(1, 9)), cols=4, max_m=512, max_k=512,
                            acc_depth=int(rng.integers(1, 20)))
    memory = rng.integers(-128, 128, size=1024).astype(np.int8)
    image = memory[conv.in_base:conv.in_base + conv.h * conv.w * conv.c]
    patches = im2col(image.reshape(1, conv.h, conv.w, conv.c), conv.kernel, stride=conv.stride,
                     padding=conv.padding)[0, conv.row0:conv.row0 + conv.rows]
    a = patches.reshape(-1, patches.shape[-1])
    addresses = im2col_addresses(conv, config)
    gathered = np.where(addresses == ZERO, 0, memory[np.maximum(addresses, 0)]).astype(np.int8)
    np.testing.assert_array_equal(gathered, pack_a(a, config), strict=True,
                                  err_msg=f"seed {seed}: {conv}")


def test_output_stationary_is_refused():
    conv = Conv(0, 0, 0, 0, h=3, w=3, c=1, oc=1, kernel=3)
    with pytest.raises(TesseraError, match=r"weight-stationary dataflow only"):
        im2col_addresses(conv, SystolicConfig(dataflow="os"))
