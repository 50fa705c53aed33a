import os

import pytest

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
#: CI: derandomised (the same examples every run), no example database (a clean clone stays clean)
settings.register_profile("ci", derandomize=True, max_examples=12, deadline=None, database=None,
                          suppress_health_check=_SLOW)
#: dev: random examples; a failing one is saved in .hypothesis/examples and replayed first on the next run
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=_SLOW,
                          database=DirectoryBasedExampleDatabase(".hypothesis/examples"))
#: deep (``pytest --deep``): overnight runs, 1000 random examples a test (OTGEOM_DEEP_EXAMPLES overrides: the
#: benchmark), failing examples persisted as in dev
settings.register_profile("deep", max_examples=int(os.environ.get("OTGEOM_DEEP_EXAMPLES", "1000")), deadline=None,
                          suppress_health_check=_SLOW,
                          database=DirectoryBasedExampleDatabase(".hypothesis/examples"))
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--update-snapshots", action="store_true", default=False, dest="otgeom_update_snapshots",
                     help="rewrite tests/snapshots/*.txt from the current derivations (see otgeom/snapshots.py)")
    parser.addoption("--deep", action="store_true", default=False, dest="otgeom_deep",
                     help="the deep hypothesis profile: 1000 random examples a property test, failing examples "
                          "persisted in .hypothesis/examples (overnight runs)")


#: environment variables that cap the BLAS/OpenMP threads of each test worker (see pytest_configure)
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _xdist_controller(config) -> bool:
    """True in the process that distributes the tests to pytest-xdist workers (``-n N`` with N > 0, or ``--dist``
    with ``--tx``; xdist has turned ``-n`` into ``--dist load`` by now)."""
    distributing = bool(getattr(config.option, "numprocesses", None)) or getattr(config.option, "dist", "no") != "no"
    return distributing and not hasattr(config, "workerinput")


def pytest_configure(config):
    if config.getoption("otgeom_deep", False):
        settings.load_profile("deep")
    if _xdist_controller(config):
        # The README runs the suite with -n auto: one worker per core.  Each worker (and each process a test starts)
        # then uses one BLAS thread, so the workers do not oversubscribe the cores (with OpenBLAS's default of a
        # thread per core, the 50 x 50 Lyapunov test took 136 s instead of 27 s).  The workers inherit this
        # environment; a value set by the user is kept.  (XLA's own thread pool, in the JAX tests, is not capped.)
        for var in _ONE_THREAD:
            os.environ.setdefault(var, "1")
    config._otgeom_witness_classes = {}


def pytest_collection_modifyitems(config, items):
    """Order the tests: those marked ``slow`` first (so that the workers share them rather than one worker
    finishing the suite alone), then the rest, then ``test_neural.py`` last: JAX's first computation starts its
    thread pool (collection only imports it), and a process that forks with those threads running can deadlock (the
    sweep, claim and report tests fork workers).  The sort is stable: within each group the collection order
    stays."""
    def rank(item) -> int:
        if item.path.name == "test_neural.py":
            return 2
        return 0 if item.get_closest_marker("slow") else 1

    items.sort(key=rank)


def _witness_classes() -> dict:
    import sys

    return dict(getattr(sys.modules.get("test_witness"), "CLASSES", None) or {})


def pytest_sessionfinish(session):
    """Under xdist a worker hands its witness classes to the controller (``workeroutput``)."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["otgeom_witness_classes"] = _witness_classes()


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without xdist it is never called
def pytest_testnodedown(node, error):
    """Controller side (xdist): add up the witness classes the workers counted."""
    totals = node.config._otgeom_witness_classes
    for k, v in getattr(node, "workeroutput", {}).get("otgeom_witness_classes", {}).items():
        totals[k] = totals.get(k, 0) + v


def pytest_terminal_summary(terminalreporter):
    """Print the classes of the witness property test (issue 13: how many cases fell in each class), counted in
    this process or, under xdist, by the workers."""
    counts = dict(_witness_classes())
    for k, v in getattr(terminalreporter.config, "_otgeom_witness_classes", {}).items():
        counts[k] = counts.get(k, 0) + v
    if counts:
        terminalreporter.write_line("witness property test, cases per class: "
                                    + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


@pytest.fixture(autouse=True)
def _signal_state_is_left_as_found(request):
    """Every test leaves SIGINT's and SIGTERM's handlers and the main thread's signal mask as it found them.

    A test that leaks a changed state (an ignored or blocked SIGINT) would be inherited by the processes later tests
    start; the state is restored, and the test is named in a warning.  (This fixture found why the Ctrl-C tests of
    test_frontdoor.py hung in background CI runs: not a leaking test, but a runner started with SIGINT ignored, which
    those tests now reset in their child; the notebook tests' kernels reinstate Python's handler, and the warning
    says so.)"""
    import signal
    import warnings

    watched = (signal.SIGINT, signal.SIGTERM)
    before = {s: signal.getsignal(s) for s in watched}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    after = {s: signal.getsignal(s) for s in watched}
    mask_after = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if after != before or mask_after != mask:
        for s, h in before.items():
            signal.signal(s, h)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        warnings.warn(f"{request.node.nodeid} changed the signal state (handlers {after} instead of {before}, "
                      f"blocked {sorted(mask_after)} instead of {sorted(mask)}); restored", RuntimeWarning)
