"""The throughput table of ``make bench``: GOP/s = 2 x MACs x Fmax x utilization, per DSP and
per 1,000 LUTs, with the utilization of the golden cycle models."""

import pytest
from tessera.golden.config.systolic import SystolicConfig
from tessera.golden.systolic import gemm_cycles
from tessera.sim.bench import throughput


def _result(fmax, luts, dsps, fits=True):
    return {"fits": fits, "fmax_mhz": fmax, "luts": luts, "dsps": dsps}


def test_a_systolic_row_takes_its_largest_gemm_from_the_golden_model():
    table = throughput.rows({"systolic-8x8-ecp5": _result(100.0, 5_000, 64)})
    row = next(r for r in table if r["configuration"] == "systolic-8x8-ecp5")
    util = gemm_cycles(SystolicConfig(rows=8, cols=8), 64, 64, 64).utilization
    assert row["utilization"] == pytest.approx(util, abs=1e-4)
    assert row["peak_gops"] == pytest.approx(2 * 64 * 100.0 / 1000)
    assert row["gops"] == pytest.approx(2 * 64 * 100.0 * util / 1000, abs=1e-3)
    assert row["gops_per_dsp"] == pytest.approx(row["gops"] / 64, abs=1e-4)
    assert row["gops_per_klut"] == pytest.approx(row["gops"] / 5.0, abs=1e-3)
    assert row["workload"] == "WS 64x64x64"


def test_results_that_did_not_fit_and_tops_that_do_not_multiply_are_skipped(capsys):
    table = throughput.rows({"systolic-16x16-lut-ecp5": _result(None, 78_000, 2, fits=False),
                             "pe-ecp5": _result(231.9, 65, 1)})
    assert [r["configuration"] for r in table] == list(throughput.PUBLIC_ARRAYS)
    assert "systolic-16x16-lut-ecp5: did not fit" in capsys.readouterr().out


def test_the_public_arrays_are_at_their_peak():
    rows = {r["configuration"]: r for r in throughput.rows({})}
    a = rows["public 8x8 array A"]
    assert a["utilization"] is None and a["gops"] == a["peak_gops"] == pytest.approx(12.173)
    assert rows["public 8x8 array B"]["gops_per_dsp"] is None
