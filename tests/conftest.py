import os

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


def pytest_configure(config):
    if config.getoption("otgeom_deep", False):
        settings.load_profile("deep")


def pytest_terminal_summary(terminalreporter):
    """Print the classes of the witness property test (issue 13: how many cases fell in each class)."""
    import sys

    mod = sys.modules.get("test_witness")
    counts = getattr(mod, "CLASSES", None)
    if counts:
        terminalreporter.write_line("witness property test, cases per class: "
                                    + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
