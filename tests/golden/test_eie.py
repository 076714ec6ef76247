"""EIE's interleaved CSC format: the paper's examples, round-trips, SpMV and its work counts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tessera.golden.eie import EIEMatrix, decode, decode_indices, encode, encode_values, spmv, work
from tessera.golden.errors import TesseraError

# Figure 2/3 of EIE: the non-zeros of PE 0 (rows 0, 4, 8, 12) of the 16x8 matrix, per column.
PE0_COLUMNS = {0: [0, 8, 12], 1: [4], 2: [0, 12], 4: [0, 4], 5: [0, 12], 6: [0], 7: [8, 12]}
PE0_WEIGHTS = ["W0,0", "W8,0", "W12,0", "W4,1", "W0,2", "W12,2", "W0,4", "W4,4", "W0,5",
               "W12,5", "W0,6", "W8,7", "W12,7"]


def test_eie_single_column_example():
    column = np.array([0, 0, 1, 2] + [0] * 18 + [3])[:, None]
    m = encode(column, [0, 1, 2, 3], n_pes=1, rel_bits=4, index_bits=4)
    np.testing.assert_array_equal(m.v, [1, 2, 0, 3])
    np.testing.assert_array_equal(m.z, [2, 0, 15, 2])
    np.testing.assert_array_equal(m.col_ptr, [[0, 4]])
    np.testing.assert_array_equal(decode(m), column)
    assert m.n_padding == 1 and m.nnz == 3


def figure2_matrix(seed=0):
    """The 16x8 matrix with PE 0's pattern from the paper; other rows random; unique values."""
    rng = np.random.default_rng(seed)
    w = np.zeros((16, 8), dtype=np.int64)
    for col, rows in PE0_COLUMNS.items():
        for row in rows:
            w[row, col] = 1
    others = np.arange(16) % 4 != 0
    w[others] = rng.random((12, 8)) < 0.4
    ids = np.zeros_like(w)
    ids[w != 0] = np.arange(1, np.count_nonzero(w) + 1)  # weight W[i, j] gets a unique value
    return ids


def test_eie_figure3_pe0():
    w = figure2_matrix()
    m = encode_values(w, n_pes=4, rel_bits=4, index_bits=8)
    pe0 = m.pe(0)
    names = []
    for col in range(8):
        for e in range(pe0.col_ptr[col], pe0.col_ptr[col + 1]):
            row = int(np.flatnonzero(w[:, col] == m.codebook[pe0.v[e]])[0])
            names.append(f"W{row},{col}")
    assert names == PE0_WEIGHTS
    np.testing.assert_array_equal(pe0.z, [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0])
    np.testing.assert_array_equal(pe0.col_ptr, [0, 3, 4, 6, 6, 8, 10, 11, 13])
    assert pe0.n_rows == 4
    np.testing.assert_array_equal(decode(m), w)


def test_gap_lengths_around_the_relative_index_limit():
    for gap, pads, z_last in ((14, 0, 14), (15, 0, 15), (16, 1, 0), (17, 1, 1), (31, 1, 15),
                              (32, 2, 0), (40, 2, 8)):
        column = np.zeros((gap + 1, 1), dtype=np.int64)
        column[gap] = 1
        m = encode(column, [0, 5], n_pes=1, rel_bits=4)
        assert m.n_padding == pads, gap
        assert list(m.z[:-1]) == [15] * pads and m.z[-1] == z_last
        np.testing.assert_array_equal(decode(m), column * 5)


@st.composite
def sparse_matrices(draw):
    rows = draw(st.integers(0, 40))
    cols = draw(st.integers(0, 12))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    index_bits = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    idx = (rng.random((rows, cols)) < density) * rng.integers(1, 2**index_bits, size=(rows, cols))
    if rows and cols and draw(st.booleans()):
        idx[:, rng.integers(cols)] = 0  # an empty column
    codebook = np.concatenate([[0], rng.integers(-128, 128, size=2**index_bits - 1)])
    return idx, codebook, index_bits, seed


@settings(max_examples=120, deadline=None)
@given(sparse_matrices(), st.integers(1, 9), st.integers(1, 6))
def test_round_trip_and_spmv_on_random_matrices(case, n_pes, rel_bits):
    idx, codebook, index_bits, seed = case
    m = encode(idx, codebook, n_pes=n_pes, rel_bits=rel_bits, index_bits=index_bits)
    np.testing.assert_array_equal(decode_indices(m), idx)
    dense = codebook[idx]
    np.testing.assert_array_equal(decode(m), dense)
    assert m.nnz == np.count_nonzero(idx)
    assert m.entries.shape == (n_pes, idx.shape[1])
    assert m.entries.sum() == m.n_entries and m.padding.sum() == m.n_padding
    for k in range(n_pes):  # per-PE slices partition the entries; empty PEs included
        pe = m.pe(k)
        assert len(pe.v) == pe.col_ptr[-1] == m.entries[k].sum()
        assert pe.n_rows == len(range(k, idx.shape[0], n_pes))
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=idx.shape[1]).astype(np.int8)
    x[rng.random(idx.shape[1]) < 0.4] = 0
    result = spmv(m, x)
    np.testing.assert_array_equal(result.y, (dense @ x.astype(np.int64)).astype(np.int32),
                                  strict=True)
    active = x != 0
    np.testing.assert_array_equal(result.entries, m.entries * active)
    np.testing.assert_array_equal(result.per_pe, work(m, x))
    assert result.total == int(m.entries[:, active].sum())
    assert result.padding.sum() == int(m.padding[:, active].sum())


def test_long_zero_runs_need_exact_padding():
    rows = 300
    w = np.zeros((rows, 3), dtype=np.int64)
    w[[0, 299], 0] = 1  # gap of 298 zeros on one PE
    w[[150], 1] = 2  # gap of 150 from the top
    m = encode_values(w, n_pes=1, rel_bits=4, index_bits=2)
    assert m.padding[0].tolist() == [298 // 16, 150 // 16, 0]
    np.testing.assert_array_equal(decode(m), w)


def test_all_zero_activations_do_no_work():
    rng = np.random.default_rng(3)
    w = (rng.random((20, 10)) < 0.3) * rng.integers(-5, 6, size=(20, 10))
    m = encode_values(w, n_pes=3)
    result = spmv(m, np.zeros(10, dtype=np.int8))
    assert result.total == 0 and result.active_columns == 0
    np.testing.assert_array_equal(result.y, np.zeros(20, dtype=np.int32), strict=True)


def test_spmv_overflow_and_input_checks():
    m = encode(np.ones((1, 3), dtype=np.int64), [0, 2**30], n_pes=1)
    x = np.array([1, 1, 1])
    with pytest.raises(TesseraError, match=r"^int32 accumulator overflow"):
        spmv(m, x)
    assert spmv(m, x, overflow="wrap").y[0] == 3 * 2**30 - 2**32
    with pytest.raises(TesseraError, match=r"^x must be an integer array, not float64$"):
        spmv(m, np.ones(3))
    with pytest.raises(TesseraError, match=r"^x must have shape \(3,\)"):
        spmv(m, np.ones(4, dtype=np.int8))
    assert work(m, np.ones((3, 5), dtype=np.int8)).shape == (5, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codebook": [1, 2]}, r"codebook\[0\] is reserved for zero"),
        ({"indices": np.array([[0, 3]])}, r"^indices must be in \[0, 1\]"),
        ({"indices": np.ones((2, 2))}, r"^indices must be an integer array, not float64$"),
        ({"indices": np.ones(3, dtype=int)}, r"^indices must be 2-D"),
        ({"rel_bits": 0}, r"^rel_bits must be between 1 and 8, not 0$"),
        ({"n_pes": 0}, r"^n_pes must be between"),
        ({"index_bits": 9}, r"^index_bits must be between 1 and 8, not 9$"),
        ({"codebook": list(range(5)), "index_bits": 2}, r"does not fit 2-bit indices"),
        ({"ptr_bits": 2}, r"^PE 0 holds 4 entries, more than 2-bit column pointers can address"),
    ],
)
def test_encode_rejects_bad_input(kwargs, message):
    args = {"indices": np.ones((2, 2), dtype=np.int64), "codebook": [0, 7], "n_pes": 1} | kwargs
    with pytest.raises(TesseraError, match=message):
        encode(**args)


def test_encode_values_rejects_too_many_values():
    with pytest.raises(TesseraError, match=r"^4 distinct non-zero values do not fit a 2-bit"):
        encode_values(np.array([[1, 2, 3, 4]]), n_pes=1, index_bits=2)


def test_constructor_catches_corrupt_fields():
    m = encode_values(np.array([[0, 1], [2, 0], [0, 3]]), n_pes=2)
    fields = dict(shape=m.shape, n_pes=m.n_pes, rel_bits=m.rel_bits, index_bits=m.index_bits,
                  codebook=m.codebook, col_ptr=m.col_ptr, v=m.v, z=m.z, pe_ptr=m.pe_ptr)
    EIEMatrix(**fields)  # the untouched fields are valid
    bad_z = m.z.copy()
    bad_z[-1] = 9  # pushes an entry past the PE's last row
    with pytest.raises(TesseraError, match=r"^corrupt EIE matrix: an entry of PE"):
        EIEMatrix(**(fields | {"z": bad_z}))
    with pytest.raises(TesseraError, match=r"column pointers must start at 0"):
        EIEMatrix(**(fields | {"col_ptr": m.col_ptr[:, ::-1].copy()}))
    with pytest.raises(TesseraError, match=r"^codebook must have 2\*\*4 = 16 entries, not 4$"):
        EIEMatrix(**(fields | {"codebook": m.codebook[:4]}))
    with pytest.raises(TesseraError, match=r"column pointers account for"):
        EIEMatrix(**(fields | {"v": m.v[:-1], "z": m.z[:-1]}))
