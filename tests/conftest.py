import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--update-snapshots", action="store_true", default=False, dest="otgeom_update_snapshots",
                     help="rewrite tests/snapshots/*.txt from the current derivations (see otgeom/snapshots.py)")


def pytest_terminal_summary(terminalreporter):
    """Print the classes of the witness property test (issue 13: how many cases fell in each class)."""
    import sys

    mod = sys.modules.get("test_witness")
    counts = getattr(mod, "CLASSES", None)
    if counts:
        terminalreporter.write_line("witness property test, cases per class: "
                                    + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
