import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The tests run thousands of tiny matrix products and QRs, which several OpenMP threads slow
    down (up to ~100x on a busy machine) instead of speeding up."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def _quick_readout_figure():
    """readout_comparison cross-validates every predictor 10 times and refits it in 120 bootstrap
    resamples and 99 permutations; the figure tests check drawing, not precision
    (tests/test_readout.py and tests/test_readout_intervals.py check the statistics)."""
    from rnn_lyapunov.figures import readout_comparison

    names = ("REPEATS", "N_BOOTSTRAP", "N_PERMUTATIONS")
    saved = [getattr(readout_comparison, name) for name in names]
    for name, quick in zip(names, (2, 10, 4)):
        setattr(readout_comparison, name, quick)
    yield
    for name, value in zip(names, saved):
        setattr(readout_comparison, name, value)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Each test starts from the same global RNG state and restores the default dtype."""
    torch.manual_seed(0)
    default_dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(default_dtype)


class AutodiffOnly:
    """Hides a system's ``jacobian`` so the engine takes the forward-mode autodiff path."""

    def __init__(self, system):
        self._system = system
        self.state_size = system.state_size

    def step(self, state, x):
        return self._system.step(state, x)

    def initial_state(self, batch):
        return self._system.initial_state(batch)


@pytest.fixture
def autodiff_only():
    return AutodiffOnly


class JacobianOnly(AutodiffOnly):
    """Exposes ``jacobian`` but hides ``step_with_tangents``: the engine takes the Jacobian path."""

    def jacobian(self, state, x):
        return self._system.jacobian(state, x)


@pytest.fixture
def jacobian_only():
    return JacobianOnly


# The suite's time, printed at the end of every run (CI's log keeps it): the wall time, and the
# test time of the tests marked slow against the others (setup, call and teardown of each).
_TEST_SECONDS = {"slow": [0, 0.0], "other": [0, 0.0]}  # kind -> [tests, seconds]


def pytest_sessionstart(session):
    import time

    session.config._suite_started = time.monotonic()


def pytest_runtest_logreport(report):
    kind = _TEST_SECONDS["slow" if "slow" in report.keywords else "other"]
    kind[1] += report.duration
    kind[0] += report.when == "call" or (report.when == "setup" and report.skipped)


def pytest_terminal_summary(terminalreporter, config):
    import time

    started = getattr(config, "_suite_started", None)
    if started is None:
        return
    (slow, slow_s), (other, other_s) = _TEST_SECONDS["slow"], _TEST_SECONDS["other"]
    share = slow_s / (slow_s + other_s) if slow_s + other_s else 0.0
    terminalreporter.write_sep("=", "suite time")
    terminalreporter.write_line(
        f"wall {time.monotonic() - started:.0f} s; test time {slow_s + other_s:.0f} s: marked slow {slow} tests "
        f"{slow_s:.0f} s ({share:.0%}), the other {other} tests {other_s:.0f} s")
