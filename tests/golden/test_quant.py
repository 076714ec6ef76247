"""The numeric contract: quantization, (multiplier, shift) and requantization corners."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tessera.golden.errors import TesseraError
from tessera.golden.quant import (
    calibrate_scale,
    dequantize,
    quantize,
    quantize_bias,
    quantize_multiplier,
    requantize,
    round_half_away,
    rounding_shift,
)


def reference_requantize(acc, bias, m, s, relu):
    """Python integers, written from the contract in golden/quant.py's module docstring
    independently of the NumPy code (tests/golden/requant_reference.py has a rational one)."""
    t = (int(acc) + int(bias)) * int(m)
    r = (t + (1 << (s - 1))) >> s if s > 0 else t
    if relu:
        r = max(r, 0)
    return max(-128, min(127, r))


def test_rounding_ties_go_toward_plus_infinity():
    # acc * 1 >> 1: 5/2 = 2.5 -> 3, -5/2 = -2.5 -> -2, -7/2 = -3.5 -> -3, 3/2 = 1.5 -> 2
    acc = np.array([5, -5, -7, 3, -3, 4, -4], dtype=np.int32)
    got = requantize(acc, 0, 1, 1)
    np.testing.assert_array_equal(got, np.array([3, -2, -3, 2, -1, 2, -2], dtype=np.int8),
                                  strict=True)


def test_rounding_shift_zero_is_identity_and_floor_otherwise():
    t = np.array([-9, -8, -1, 0, 1, 7, 8], dtype=np.int64)
    np.testing.assert_array_equal(rounding_shift(t, 0), t)
    # s = 3: (t + 4) >> 3 -> floor((t + 4) / 8)
    np.testing.assert_array_equal(rounding_shift(t, 3), np.floor((t + 4) / 8).astype(np.int64))


def test_saturation_both_ways_and_relu():
    acc = np.array([2**31 - 1, -(2**31), 1000, -1000, 0], dtype=np.int64)
    np.testing.assert_array_equal(requantize(acc, 0, 1, 0), [127, -128, 127, -128, 0])
    np.testing.assert_array_equal(requantize(acc, 0, 1, 0, relu=True), [127, 0, 127, 0, 0])


def test_extreme_product_does_not_wrap():
    # (2**31 - 1 + 2**31 - 1) * (2**16 - 1) needs 49 bits; shifted by 47 it is 3 (rounded).
    acc = np.array([2**31 - 1], dtype=np.int32)
    got = requantize(acc, 2**31 - 1, 2**16 - 1, 47)
    expected = reference_requantize(2**31 - 1, 2**31 - 1, 2**16 - 1, 47, False)
    assert got[0] == expected == 2  # (2**32 - 2) * (2**16 - 1) / 2**47 = 1.99997 -> 2


def test_int8_times_int8_corner():
    # -128 * -128 = 16384: the largest product of two int8 values.
    assert requantize(np.array([(-128) * (-128)]), 0, 1, 7)[0] == 127
    assert requantize(np.array([(-128) * (-128)]), 0, 1, 8)[0] == 64


@settings(max_examples=300, deadline=None)
@given(
    acc=st.integers(-(2**31), 2**31 - 1),
    bias=st.integers(-(2**31), 2**31 - 1),
    m=st.integers(0, 2**16 - 1),
    s=st.integers(0, 47),
    relu=st.booleans(),
)
def test_requantize_matches_python_integers(acc, bias, m, s, relu):
    got = requantize(np.array([acc], dtype=np.int64), bias, m, s, relu=relu)
    assert got.dtype == np.int8
    assert int(got[0]) == reference_requantize(acc, bias, m, s, relu)


@settings(max_examples=50, deadline=None)
@given(
    acc=hnp.arrays(np.int32, (5, 3)),
    bias=hnp.arrays(np.int32, (3,)),
    m=hnp.arrays(np.int64, (3,), elements=st.integers(0, 2**16 - 1)),
    s=hnp.arrays(np.int64, (3,), elements=st.integers(0, 47)),
)
def test_per_channel_parameters_apply_along_last_axis(acc, bias, m, s):
    got = requantize(acc, bias, m, s, relu=False)
    for i in range(5):
        for c in range(3):
            assert got[i, c] == reference_requantize(acc[i, c], bias[c], m[c], s[c], False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"acc": np.array([1.5])}, r"^acc must be an integer array, not float64$"),
        ({"acc": np.array([2**31])},
         r"^acc must hold values between -2147483648 and 2147483647, not 2147483648$"),
        ({"bias": np.array([-(2**31) - 1])}, r"^bias must hold values between"),
        ({"multiplier": 2**16}, r"^multiplier must hold values between 0 and 65535, not 65536$"),
        ({"multiplier": -1}, r"^multiplier must hold values between 0 and 65535, not -1$"),
        ({"shift": 48}, r"^shift must hold values between 0 and 47, not 48$"),
        # the range is checked in the input's own dtype: 2**64 - 1 is not wrapped to -1
        ({"multiplier": np.array([2**64 - 1], dtype=np.uint64)},
         r"^multiplier must hold values between 0 and 65535, not 18446744073709551615$"),
        ({"shift": np.array([1, 2])}, r"do not broadcast"),
        ({"acc": np.array([True])}, r"^acc must be an integer array, not bool$"),
    ],
)
def test_requantize_rejects_bad_input(kwargs, message):
    args = {"acc": np.array([1, 2, 3]), "bias": 0, "multiplier": 1, "shift": 0} | kwargs
    with pytest.raises(TesseraError, match=message):
        requantize(**args)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=2**-30, max_value=60000.0))
def test_quantize_multiplier_is_accurate_and_in_range(real):
    m, s = quantize_multiplier(real)
    assert 0 < m <= 2**16 - 1 and 0 <= s <= 47
    assert abs(m / 2**s - real) <= real * 2**-15 + 2**-(s + 1)


def test_quantize_multiplier_edges():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(1.0) == (2**15, 15)
    m, s = quantize_multiplier(np.array([0.5, 0.25, 3.0]))
    np.testing.assert_array_equal(m / 2.0**s, [0.5, 0.25, 3.0])
    # a value that rounds M up to 2**16 takes one bit less of shift
    m, s = quantize_multiplier(1.99999999)
    assert m <= 2**16 - 1 and m / 2**s == pytest.approx(2.0, rel=2**-15)
    with pytest.raises(TesseraError, match=r"^real scale must not be negative$"):
        quantize_multiplier(-1.0)
    with pytest.raises(TesseraError, match=r"^real scale must be below"):
        quantize_multiplier(70000.0)
    with pytest.raises(TesseraError, match=r"too small"):
        quantize_multiplier(1e-20)
    with pytest.raises(TesseraError, match=r"must be finite"):
        quantize_multiplier(float("nan"))


def test_round_half_away_is_symmetric():
    np.testing.assert_array_equal(round_half_away([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49]),
                                  [1, 2, 3, -1, -2, -3, 0])


def test_quantize_per_tensor_and_saturation():
    x = np.array([-2.0, -1.0, -0.004, 0.0, 0.004, 1.0, 1.5])
    q = quantize(x, 1 / 127)
    np.testing.assert_array_equal(q, np.array([-128, -127, -1, 0, 1, 127, 127], dtype=np.int8),
                                  strict=True)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, (4, 6), elements=st.floats(-100, 100)))
def test_per_channel_calibration_round_trips_within_half_a_step(w):
    scale = calibrate_scale(w, channel_axis=0)
    assert scale.shape == (4,)
    q = quantize(w, scale, channel_axis=0)
    assert np.abs(q).max(initial=0) <= 127
    err = np.abs(dequantize(q, scale, channel_axis=0) - w)
    assert np.all(err <= scale[:, None] / 2 + 1e-12)


def test_calibrate_scale_options_and_errors():
    assert calibrate_scale(np.zeros(3)) == 1.0
    # A subnormal range whose m / 127 underflows to 0 counts as zero (hypothesis found it).
    assert calibrate_scale(np.full(3, 5e-324)) == 1.0
    np.testing.assert_array_equal(calibrate_scale(np.full((2, 3), 5e-324), channel_axis=0),
                                  [1.0, 1.0])
    assert calibrate_scale(np.array([-254.0, 1.0])) == 2.0
    assert calibrate_scale(np.arange(101.0), percentile=50) == pytest.approx(50 / 127)
    with pytest.raises(TesseraError, match=r"^calibration data must not be empty$"):
        calibrate_scale(np.array([]))
    with pytest.raises(TesseraError, match=r"must be finite"):
        calibrate_scale(np.array([np.inf]))
    with pytest.raises(TesseraError, match=r"^percentile must be in \(0, 100\]"):
        calibrate_scale(np.ones(3), percentile=0)
    with pytest.raises(TesseraError, match=r"^need 3 per-channel scales, not 2$"):
        quantize(np.ones((3, 2)), np.ones(2), channel_axis=0)
    with pytest.raises(TesseraError, match=r"^scale must be positive$"):
        quantize(np.ones(2), 0.0)


def test_quantize_bias():
    np.testing.assert_array_equal(quantize_bias([0.5, -0.5, 1.26], 0.5), [1, -1, 3])
    with pytest.raises(TesseraError, match=r"does not fit int32"):
        quantize_bias([1.0], 1e-12)
