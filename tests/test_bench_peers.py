"""Smoke test of benchmarks/bench_peers.py: every installed tool runs on the same tiny networks and
agrees with the float64 QR-every-step reference (no timing is asserted). The light peers clvlib and
lyapynov come with the `test` extra, so this runs in CI; lyapax (with jax) joins when installed."""

import importlib.util
import sys
from pathlib import Path

import pytest

for peer in ("clvlib", "lyapynov"):
    pytest.importorskip(peer)
PEERS = [peer for peer in ("lyapax", "clvlib", "lyapynov")
         if importlib.util.find_spec(peer) is not None and (peer != "lyapax" or importlib.util.find_spec("jax"))]

ROOT = Path(__file__).parents[1]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "benchmarks" / "bench_peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_quick_mode_runs_every_peer_and_all_agree_with_the_reference(capsys):
    bench = load_benchmark()
    rows = bench.main(["--quick", "--only", "LSTM", "--peers", ",".join(PEERS)])  # one workload keeps it short
    table = capsys.readouterr().out
    assert "| workload |" in table and "LSTM" in table.split("| workload |")[1]  # the final table has its row
    workloads = [workload for workload in bench.QUICK if "LSTM" in workload.name]
    for row, workload in zip(rows, workloads, strict=True):
        assert {"ours", *PEERS} <= set(row)
        # ours runs "auto": within its tolerance of QR every step (1e-6 float64, 1e-4 float32)
        tolerance = 1e-6 if workload.dtype.itemsize == 8 else 1e-4
        assert row["ours"]["errors"][1] <= tolerance
        for peer in PEERS:
            assert row[peer]["errors"][1] <= 1e-4, peer  # same networks, same start: same spectrum
        assert row["mean_interval"] >= 1


def test_a_peer_that_is_not_installed_is_refused_by_name(capsys):
    bench = load_benchmark()
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--peers", "clvlib,chaostools"])
    assert "--peers chaostools: not installed" in capsys.readouterr().err
