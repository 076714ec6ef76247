"""The stream-driver family (tessera.sim.stream): pause patterns, timing, hangs."""

import pytest
from tessera.sim import stream
from tessera.sim.runner import Design, simulate

from .stream_fifo import StreamFIFO

SIMULATORS = ["icarus", "verilator"]


def test_pause_patterns_mean_paused_where_true():
    assert stream.pause_pattern("always") == ()
    assert stream.pause_pattern("alternate") == (False, True)
    # One pause in four: the complement of cocotbext-axi's cycle([1, 1, 1, 0]).
    assert stream.pause_pattern("bursty") == (False, False, False, True)
    random = stream.pause_pattern("random", seed=3)
    assert len(random) == 64 and random == stream.pause_pattern("random", seed=3)
    assert random != stream.pause_pattern("random", seed=4)
    assert 16 < sum(random) < 48


def test_unknown_pause_pattern():
    with pytest.raises(ValueError, match=r"^pause pattern must be one of .*, not 'often'$"):
        stream.pause_pattern("often")


def unpaused(pattern, count):
    """Edges (from the driver's first) that a never-blocked stream transfers on."""
    edges, edge = [], 0
    while len(edges) < count:
        if not pattern or not pattern[edge % len(pattern)]:
            edges.append(edge)
        edge += 1
    return edges


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("kind", ["always", "alternate", "bursty", "random"])
def test_source_offers_exactly_on_unpaused_edges(sim, kind):
    """With the sink always ready, the FIFO never fills: the source's words are taken exactly on
    the edges its pause pattern leaves open (a driver that read the pattern inverted, or offered
    a cycle late, fails), and the sink without pause takes one word per edge."""
    count = 40
    result = simulate(Design(StreamFIFO, width=8, depth=4), "tests.sim.tb_streams", sim=sim,
                      testcase="pause_timing",
                      params={"count": count, "valid": [kind], "ready": ["always"]})
    expected = unpaused(stream.pause_pattern(kind, seed=1), count)
    assert result.report["i_edges"] == expected
    o_edges = result.report["o_edges"]
    assert len(o_edges) == count and all(o > i for o, i in zip(o_edges, expected))


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("kind", ["alternate", "bursty", "random"])
def test_sink_ready_follows_its_pause_pattern(sim, kind):
    """Results leave the FIFO only on edges the sink's pattern leaves open, and on all of those
    while the FIFO holds data."""
    count = 40
    result = simulate(Design(StreamFIFO, width=8, depth=4), "tests.sim.tb_streams", sim=sim,
                      testcase="pause_timing",
                      params={"count": count, "valid": ["always"], "ready": [kind]})
    pattern = stream.pause_pattern(kind, seed=2)
    o_edges = result.report["o_edges"]
    assert len(o_edges) == count
    assert not any(pattern[e % len(pattern)] for e in o_edges)
    # From the first output on, the source outruns the sink: no open edge goes unused.
    open_edges = [e for e in range(o_edges[0], o_edges[-1] + 1) if not pattern[e % len(pattern)]]
    assert o_edges == open_edges


@pytest.mark.parametrize("sim", SIMULATORS)
def test_hang_names_the_stream_and_the_cycle(sim):
    result = simulate(Design(StreamFIFO, width=8, depth=4), "tests.sim.tb_streams", sim=sim,
                      testcase="hang_names_stream_and_cycle",
                      params={"hang": 50, "valid": ["always"], "ready": ["always"]})
    assert result.failed == 0 and result.report["received"] == 3
    assert result.report["message"].startswith("stream 'o' hangs at cycle ")
    cycle = int(result.report["message"].split("cycle ")[1].split(":")[0])
    assert 50 <= cycle <= 120
    assert "no transfer for 50 cycles while waiting for payload 4 (3 received)" in (
        result.report["message"])
