"""When tests/test_slurm_cluster.py skips: beside a SLURM of the machine's own (a cluster's login
node) it skips with the reason, unless CI demands the cluster (RNN_LYAPUNOV_REQUIRE_SLURM=1)."""

import sys

import pytest

from test_slurm_cluster import SCRIPT, SYSTEM_SLURM_CONF, _skip, _skip_reason


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.delenv("RNN_LYAPUNOV_SKIP_SLURM", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")


def test_a_system_slurm_conf_is_a_reason_to_skip(linux, tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=login\n")
    reason = _skip_reason(conf)
    assert reason is not None and str(conf) in reason and "its own SLURM" in reason
    assert "its own SLURM" not in (_skip_reason(tmp_path / "absent.conf") or "")


def test_the_checked_file_is_the_one_the_cluster_script_refuses_to_start_beside():
    assert f"if [[ -e {SYSTEM_SLURM_CONF} ]]; then" in SCRIPT.read_text(encoding="utf-8")


def test_the_reason_skips_unless_ci_requires_the_cluster(linux, monkeypatch, tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.touch()
    monkeypatch.delenv("RNN_LYAPUNOV_REQUIRE_SLURM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="its own SLURM"):
        _skip(_skip_reason(conf))
    monkeypatch.setenv("RNN_LYAPUNOV_REQUIRE_SLURM", "1")
    with pytest.raises(pytest.fail.Exception, match="required .* its own SLURM"):
        _skip(_skip_reason(conf))
