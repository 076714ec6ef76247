"""Dense kernels: exact int8 GEMM, im2col and convolution against a direct convolution."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tessera.golden.errors import TesseraError
from tessera.golden.gemm import conv2d, conv2d_int8, gemm_int8, im2col, linear_int8, wrap_int32


def direct_conv(x, kernel, stride, padding):
    """A naive NHWC x OHWI cross-correlation in Python integers (the independent oracle)."""
    n, h, w, _ = x.shape
    oc, kh, kw, _ = kernel.shape
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    out = np.zeros((n, oh, ow, oc), dtype=np.int64)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for o in range(oc):
                    total = 0
                    for di in range(kh):
                        for dj in range(kw):
                            y, xx = i * stride + di - padding, j * stride + dj - padding
                            if 0 <= y < h and 0 <= xx < w:
                                total += int(np.dot(x[b, y, xx].astype(np.int64),
                                                    kernel[o, di, dj].astype(np.int64)))
                    out[b, i, j, o] = total
    return out


def test_gemm_corner_values_are_exact():
    a = np.full((2, 3), -128, dtype=np.int8)
    b = np.full((3, 2), -128, dtype=np.int8)
    np.testing.assert_array_equal(gemm_int8(a, b), np.full((2, 2), 3 * 16384, dtype=np.int32),
                                  strict=True)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 40), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_gemm_matches_int64_matmul(m, k, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    expected = a.astype(np.int64) @ b.astype(np.int64)
    np.testing.assert_array_equal(gemm_int8(a, b), expected.astype(np.int32), strict=True)


def test_overflow_raises_or_wraps():
    k = 2**17 + 8  # 16384 * k > 2**31
    a = np.full((1, k), -128, dtype=np.int8)
    b = np.full((k, 1), -128, dtype=np.int8)
    with pytest.raises(TesseraError, match=r"^int32 accumulator overflow"):
        gemm_int8(a, b)
    np.testing.assert_array_equal(gemm_int8(a, b, overflow="wrap"), wrap_int32([[16384 * k]]))
    assert wrap_int32([2**31])[0] == -(2**31)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.ones((2, 2)), np.ones((2, 2), dtype=np.int8),
         r"^a must be an integer array, not float64$"),
        (np.full((2, 2), 200), np.ones((2, 2), dtype=np.int8),
         r"^a must hold values between -128 and 127, not 200$"),
        (np.ones((2, 3), dtype=np.int8), np.ones((2, 2), dtype=np.int8), r"inner sizes differ"),
        (np.ones(3, dtype=np.int8), np.ones((3, 2), dtype=np.int8), r"must be 2-D"),
    ],
)
def test_gemm_rejects_bad_input(a, b, message):
    with pytest.raises(TesseraError, match=message):
        gemm_int8(a, b)


def test_linear_is_x_times_w_transposed():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(4, 7), dtype=np.int8)
    w = rng.integers(-128, 128, size=(5, 7), dtype=np.int8)
    np.testing.assert_array_equal(linear_int8(x, w), (x.astype(int) @ w.T.astype(int)))
    np.testing.assert_array_equal(linear_int8(x[0], w), (x[0].astype(int) @ w.T.astype(int)))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2), h=st.integers(3, 7), w=st.integers(3, 7), c=st.integers(1, 3),
    oc=st.integers(1, 4), k=st.integers(1, 3), stride=st.integers(1, 3), padding=st.integers(0, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_conv_as_im2col_gemm_equals_direct_convolution(n, h, w, c, oc, k, stride, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, h, w, c), dtype=np.int8)
    kernel = rng.integers(-128, 128, size=(oc, k, k, c), dtype=np.int8)
    got = conv2d_int8(x, kernel, stride=stride, padding=padding)
    np.testing.assert_array_equal(got, direct_conv(x, kernel, stride, padding).astype(np.int32),
                                  strict=True)
    np.testing.assert_allclose(conv2d(x.astype(float), kernel.astype(float), stride=stride,
                                      padding=padding), got)


def test_im2col_patch_order_is_kh_kw_c():
    x = np.arange(3 * 3 * 2).reshape(1, 3, 3, 2)
    patches = im2col(x, 2)
    assert patches.shape == (1, 2, 2, 8)
    np.testing.assert_array_equal(patches[0, 0, 0], x[0, 0:2, 0:2].reshape(-1))
    padded = im2col(x, 3, padding=1, stride=2)
    assert padded.shape == (1, 2, 2, 18)
    assert np.all(padded[0, 0, 0].reshape(3, 3, 2)[0] == 0)  # the top row is padding


def test_conv_geometry_errors():
    with pytest.raises(TesseraError, match=r"does not fit"):
        im2col(np.zeros((1, 2, 2, 1)), 3)
    with pytest.raises(TesseraError, match=r"^stride must be at least 1, not 0$"):
        im2col(np.zeros((1, 4, 4, 1)), 3, stride=0)
    with pytest.raises(TesseraError, match=r"NHWC"):
        im2col(np.zeros((4, 4)), 3)
    with pytest.raises(TesseraError, match=r"input has 2 channels but the kernel expects 1"):
        conv2d_int8(np.zeros((1, 4, 4, 2), dtype=np.int8), np.zeros((1, 3, 3, 1), dtype=np.int8))
