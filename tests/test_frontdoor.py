"""The front door (issue 14): every input gets a result or a one-line refusal, fast, and nothing outside the
output is touched.

Most cases run in-process through ``otgeom.cli.main(argv)`` (capsys); a handful run the command in a
subprocess because they need a real stdout, signals or a terminal-like interruption.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from otgeom import cli
from otgeom.cli import EXIT_STATUSES, main
from otgeom.errors import NotConvergedError

DOCUMENTED = {code for code, _ in EXIT_STATUSES}
GOOD_POLICY = json.dumps({"mean": [0, 0], "std": [1, 1]})
HERE = Path(__file__).resolve().parent
EVALUATE = importlib.import_module("otgeom.evaluate")  # the module (``otgeom.evaluate`` is the function)


def _run(argv, capsys):
    t0 = time.monotonic()
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err, time.monotonic() - t0


def _internal_error_files() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("otgeom-internal-error-")}


def _deep(k: int) -> str:
    return "[" * k + "]" * k


_FLOOD = "[" + ",".join(["0.5"] * 300_000) + "]"  # > 1 MiB
_LQ_BIG = json.dumps([[0] * 150 for _ in range(150)], separators=(",", ":"))

# id, argv ({tmp} is the test's directory), files to create (name -> bytes, or "fifo" / "dir" / "socket" /
# "symlink:<target>" / "devnull"), exit status, a fragment the one-line message must contain, time limit (s)
P = "{tmp}/p.json"
CASES = [
    # ---- usage, every command
    ("no-command", [], {}, 2, "required", 2),
    ("unknown-command", ["bogus"], {}, 2, "invalid choice: 'bogus'", 2),
    ("huge-argument", ["derive", "x" * 200_000], {}, 2, "longer than 100000 characters", 2),
    ("families-extra", ["families", "extra"], {}, 2, "unrecognized arguments: extra", 2),
    ("families-option", ["families", "--bogus"], {}, 2, "unrecognized arguments: --bogus", 2),
    ("derive-no-family", ["derive"], {}, 2, "name a family (otgeom families lists them) or give a family file with --file", 2),
    ("derive-unknown-family", ["derive", "nosuch"], {}, 2, "unknown family 'nosuch'", 2),
    ("derive-long-family", ["derive", "y" * 5000], {}, 2, "(5000 characters)", 2),
    ("derive-width-negative", ["derive", "switch2", "--width", "-1"], {}, 2, "--width", 2),
    ("derive-width-huge", ["derive", "switch2", "--width", "9" * 5000], {}, 2, "--width", 2),
    # ---- --param text: JSON, numbers, limits
    ("param-no-equals", ["derive", "switch2", "--param", "q"], {}, 2, "expected NAME=VALUE", 2),
    ("param-no-name", ["derive", "switch2", "--param", "=1"], {}, 2, "is not a parameter name", 2),
    ("param-twice", ["derive", "switch2", "--param", "q=[0.3,0.5]", "--param", "q=[0.3,0.5]"], {}, 2,
     "--param q is given twice", 2),
    ("param-not-json", ["derive", "switch2", "--param", "q=[0.3,"], {}, 2, "--param q: not JSON", 2),
    ("param-nan", ["derive", "switch2", "--param", "q=[NaN,0.5]"], {}, 2, "NaN is not a JSON number", 2),
    ("param-infinity", ["derive", "switch2", "--param", "q=[0.3,Infinity]"], {}, 2, "Infinity is not a JSON number", 2),
    ("param-object", ["derive", "switch2", "--param", 'q={"a":1}'], {}, 2, "parameter q is a JSON object", 2),
    ("param-duplicate-key", ["derive", "switch2", "--param", 'q={"a":1,"a":2}'], {}, 2, "has the key 'a' twice", 2),
    ("param-boolean", ["derive", "switch2", "--param", "q=[true,0.5]"], {}, 2, "q[0] = true is a boolean", 2),
    ("param-null", ["derive", "switch2", "--param", "q=[0.3,null]"], {}, 2, "q[1] is null, expected a number", 2),
    ("param-ragged", ["derive", "switch2", "--param", "q=[[0.3],0.5]"], {}, 2, "ragged", 2),
    ("param-shape", ["derive", "switch2", "--param", "q=[0.3]"], {}, 2, "shape [1], expected [2]", 2),
    ("param-text", ["derive", "switch2", "--param", 'q=["abc",0.5]'], {}, 2, "q[0] = 'abc' is not a number", 2),
    ("param-divide-by-zero", ["derive", "switch2", "--param", 'q=["1/0",0.5]'], {}, 2, "divides by zero", 2),
    ("param-domain", ["derive", "switch2", "--param", "q=[0.3,1.5]"], {}, 2, "q[1] = 1.5 must be in the open", 2),
    ("param-rounds-to-one", ["derive", "switch2", "--param", 'q=["0.99999999999999999999",0.5]'], {}, 2,
     "in float64", 2),
    ("param-exponent-string", ["derive", "switch2", "--param", 'e=["1e1000000",0]'], {}, 2,
     "e[0] = '1e1000000': the exponent", 2),
    ("param-exponent-huge", ["eval", "switch2", "--param", 'q=["1e99999999",0.5]', "--policy", P],
     {"p.json": GOOD_POLICY}, 2, "q[0] = '1e99999999': the exponent", 2),
    ("param-exponent-number", ["derive", "switch2", "--param", "e=[1e99999999,0]"], {}, 2, "e[0]", 2),
    ("param-e400-string", ["eval", "switch2", "--param", 'e=["1e400",0]', "--policy", P], {"p.json": GOOD_POLICY},
     2, "e[0] = about 10^400 is above", 2),
    ("param-overflow-t", ["eval", "switch2", "--param", "t=[1e200,0]", "--policy", P], {"p.json": GOOD_POLICY}, 2,
     "t[0] = 1e+200 is above the supported magnitude", 2),
    ("param-underflow-k", ["derive", "switch2", "--param", "k=[1e-320,1]"], {}, 2, "k[0]", 2),
    ("param-many-digits", ["derive", "switch2", "--param", "e=[" + "9" * 5000 + ",0]"], {}, 2,
     "(5000 characters)", 2),
    ("param-many-digits-string", ["derive", "switch2", "--param", 'e=["' + "1" * 300 + '",0]'], {}, 2,
     "digits", 2),
    ("param-int-4301-digits", ["derive", "switch2", "--param", "e=[1" + "0" * 4300 + ",0]"], {}, 2,
     "--param e[0] = '1000", 2),
    ("param-deep", ["derive", "switch2", "--param", "q=" + _deep(40_000)], {}, 2, "nested more than 32", 2),
    ("param-long-name", ["derive", "switch2", "--param", "z" * 1000 + "=1"], {}, 2, "(1000 characters)", 2),
    ("structural-huge", ["derive", "modulated", "--param", "n=1e300"], {}, 2, "--param n = about 10^300", 2),
    ("structural-fraction", ["derive", "modulated", "--param", "n=3.5"], {}, 2, "n = 3.5 must be an integer", 2),
    ("structural-string", ["derive", "modulated", "--param", 'n="3"'], {}, 2, "must be an integer", 2),
    ("structural-range", ["derive", "modulated", "--param", "n=9"], {}, 2, "n = 9 must be in 2..8", 2),
    ("rows-sum", ["derive", "modulated", "--param", "n=2", "--param", "M=[[0.5,0.5],[0.4,0.5]]"], {}, 2,
     "M row [1] sums to 9/10", 3),
    ("not-spd", ["derive", "modulated", "--param", "n=2", "--param", "d=2", "--param",
                 "K=[[[1,2],[2,1]],[[1,0],[0,1]]]"], {}, 2, "not positive definite", 3),
    ("symbolic-too-big", ["derive", "modulated", "--param", "n=7"], {}, 2, "supported up to n = 6", 3),
    ("second-order-too-big", ["derive", "modulated", "--param", "n=6", "--second-order"], {}, 2,
     "second-order derivation is supported up to n = 5", 3),
    ("second-order-d2", ["derive", "modulated", "--param", "d=2", "--second-order"], {}, 2, "d = 1", 10),
    ("second-order-lq", ["derive", "lq", "--second-order"], {}, 2, "--second-order", 2),
    ("lq-ragged", ["derive", "lq", "--param", "A=[[1,2],[3]]"], {}, 2, "ragged", 2),
    ("lq-example", ["derive", "lq", "--param", "example=nope"], {}, 2, "unknown example 'nope'", 2),
    ("lq-too-big", ["derive", "lq", "--param", f"A={_LQ_BIG}"], {}, 2, "n, m <= 100", 2),
    ("lq-tau", ["derive", "lq", "--param", "tau=-1"], {}, 2, "tau = -1 must be >= 0", 2),
    ("lq-R", ["derive", "lq", "--param", "R=0"], {}, 2, "R must be symmetric positive definite", 2),
    ("lq-magnitude", ["derive", "lq", "--param", "A=1e300"], {}, 2, "--param A = about 10^300", 2),
    ("lq-object", ["derive", "lq", "--param", 'A={"x":1}'], {}, 2, "is a JSON object", 2),
    # ---- eval: the policy file
    ("eval-no-policy", ["eval", "switch2"], {}, 2, "required: --policy", 2),
    ("policy-missing", ["eval", "switch2", "--policy", "{tmp}/none.json"], {}, 2, "No such file", 2),
    ("policy-directory", ["eval", "switch2", "--policy", "{tmp}/d"], {"d": "dir"}, 2, "is a directory", 2),
    ("policy-fifo", ["eval", "switch2", "--policy", "{tmp}/f"], {"f": "fifo"}, 2, "FIFO", 2),
    ("policy-device", ["eval", "switch2", "--policy", "/dev/zero"], {}, 2, "character device", 2),
    ("policy-null-byte", ["eval", "switch2", "--policy", "{tmp}/a\0b"], {}, 2, "null byte", 2),
    ("policy-not-utf8", ["eval", "switch2", "--policy", P], {"p.json": b'\xff\xfe{"mean": 1}'}, 2,
     "not UTF-8 text (byte 0xff at offset 0)", 2),
    ("policy-empty", ["eval", "switch2", "--policy", P], {"p.json": ""}, 2, "not JSON", 2),
    ("policy-too-large", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": ' + _FLOOD + "}"}, 2,
     "the limit is 1048576", 3),
    ("policy-deep", ["eval", "switch2", "--policy", P], {"p.json": _deep(50_000)}, 2, "nested more than 32", 2),
    ("policy-4301-digits", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [1' + "0" * 4300 + ', 0]}'},
     2, "mean[0]", 2),
    ("policy-list", ["eval", "switch2", "--policy", P], {"p.json": "[1, 2]"}, 2, "must be a JSON object", 2),
    ("policy-no-std", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [0, 0]}'}, 2, '"mean" and "cov"', 2),
    ("policy-unknown-key", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [0,0], "std": [1,1], "x": 1}'},
     2, "unknown key(s) 'x'", 2),
    ("policy-std-and-cov", ["eval", "switch2", "--policy", P],
     {"p.json": '{"mean": [0,0], "std": [1,1], "cov": [1,1]}'}, 2, 'both "cov" and "std"', 2),
    ("policy-std-boolean", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [0,0], "std": [true,1]}'}, 2,
     "std[0] = true is a boolean", 2),
    ("policy-mean-1e300", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [1e300,0], "std": [1,1]}'}, 2,
     "mean[0] = about 10^300 is above", 2),
    ("policy-std-underflow", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [0,0], "std": [1,1e-300]}'},
     2, "std[1] = 1e-300: its square, the variance, underflows", 2),
    ("policy-std-negative", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [0,0], "std": [1,-1]}'}, 2,
     "std of state 1", 2),
    ("policy-std-nan", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [0,0], "std": [NaN,1]}'}, 2,
     "NaN is not a JSON number", 2),
    ("policy-text-entry", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": ["abc",0], "std": [1,1]}'}, 2,
     "mean[0] = 'abc' is not a number", 2),
    ("policy-object-entry", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": {"a": 1}, "std": [1,1]}'}, 2,
     "mean is a JSON object", 2),
    ("policy-states", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [0,0,0], "std": [1,1,1]}'}, 2,
     "needs 2 states", 2),
    ("policy-std-nested", ["eval", "switch2", "--policy", P], {"p.json": '{"mean": [[0],[0]], "std": [1,1]}'}, 2,
     "lists of 2 numbers", 2),
    ("policy-std-for-d2", ["eval", "modulated", "--param", "d=2", "--policy", P], {"p.json": GOOD_POLICY}, 2,
     '"std" is only for d = 1', 3),
    ("policy-cov-not-spd", ["eval", "modulated", "--param", "n=2", "--param", "d=2", "--policy", P],
     {"p.json": '{"mean": [[0,0],[0,0]], "cov": [[[1,2],[2,1]],[[1,0],[0,1]]]}'}, 2, "not positive definite", 3),
    ("policy-underflow", ["eval", "modulated", "--param", "n=2", "--param", 'M=[[1,0],["1/2","1/2"]]', "--param",
                          "N=[[0,1],[1,0]]", "--policy", P], {"p.json": '{"mean": [1000, 0], "std": [1, 1]}'}, 2,
     "P(0 -> 1) is positive exactly (p(1|0,a) is not identically 0) but underflows to 0", 5),
    ("lq-policy-shape", ["eval", "lq", "--param", "example=dean", "--policy", P], {"p.json": '{"K": [[1, 2]]}'}, 2,
     "needs m x n = 3 x 3", 3),
    ("lq-policy-unstable", ["eval", "lq", "--policy", P], {"p.json": '{"K": [[5.0]], "Sigma": [[0.5]]}'}, 2,
     "spectral radius", 3),
    ("lq-policy-sigma", ["eval", "lq", "--param", "tau=0.5", "--policy", P], {"p.json": '{"K": [[1.0]]}'}, 2,
     '"Sigma" is required', 3),
    ("lq-policy-boolean", ["eval", "lq", "--policy", P], {"p.json": '{"K": [[false]]}'}, 2, "K[0][0] = false", 2),
    ("eval-hessian-d2", ["eval", "modulated", "--param", "n=2", "--param", "d=2", "--hessian", "--policy", P],
     {"p.json": '{"mean": [[0,0],[0,0]], "cov": [[[1,0],[0,1]],[[1,0],[0,1]]]}'}, 2, "--hessian", 3),
    ("eval-symbolic-too-big", ["eval", "modulated", "--param", "n=7", "--symbolic", "--policy", P],
     {"p.json": json.dumps({"mean": [0] * 7, "std": [1] * 7})}, 2, "supported up to n = 6", 5),
    ("eval-tolerance-zero", ["eval", "switch2", "--tolerance", "0", "--policy", P], {"p.json": GOOD_POLICY}, 2,
     "--tolerance", 2),
    ("eval-tolerance-nan", ["eval", "switch2", "--tolerance", "nan", "--policy", P], {"p.json": GOOD_POLICY}, 2,
     "--tolerance", 2),
    # ---- check
    ("check-unknown-claim", ["check", "--claim", "no-such-claim"], {}, 2, "unknown claim 'no-such-claim'", 3),
    ("check-param-without-family", ["check", "--param", "q=[0.3,0.5]"], {}, 2, "--param needs --family", 3),
    ("check-unknown-family", ["check", "--family", "nosuch"], {}, 2, "unknown family 'nosuch'", 2),
    ("check-seed-negative", ["check", "--seed", "-1"], {}, 2, "--seed", 2),
    ("check-seed-huge", ["check", "--seed", "9" * 30], {}, 2, "--seed", 2),
    ("check-suite-too-big", ["check", "--family", "modulated", "--param", "n=8"], {}, 2, "supported up to n = 6", 3),
    ("check-timeout-zero", ["check", "--claims", "{tmp}/c.py", "--timeout", "0"], {}, 2, "--timeout", 2),
    ("claims-missing", ["check", "--claims", "{tmp}/none.py"], {}, 2, "cannot read claims file", 2),
    ("claims-directory", ["check", "--claims", "{tmp}/d.py"], {"d.py": "dir"}, 2, "is a directory", 2),
    ("claims-directory-main", ["check", "--claims", "{tmp}/pkg"],
     {"pkg": "dir", "pkg/__main__.py": "open(__file__ + '.ran', 'w').close()\n"}, 2, "must be a .py file", 2),
    ("claims-not-py", ["check", "--claims", "{tmp}/c.txt"], {"c.txt": "CLAIMED = []\n"}, 2, "must be a .py file", 2),
    ("claims-fifo", ["check", "--claims", "{tmp}/f.py"], {"f.py": "fifo"}, 2, "FIFO", 2),
    ("claims-syntax", ["check", "--claims", "{tmp}/c.py"], {"c.py": "x = 1\ndef f(:\n"}, 2,
     "c.py, line 2, column 7: SyntaxError", 3),
    ("claims-import", ["check", "--claims", "{tmp}/c.py"], {"c.py": "x = 1\nimport no_such_module_xyz\n"}, 2,
     "c.py, line 2, column 1: ModuleNotFoundError: No module named 'no_such_module_xyz'", 3),
    ("claims-raises", ["check", "--claims", "{tmp}/c.py"], {"c.py": "x = 1\n\ny = 1 / 0\n"}, 2,
     "c.py, line 3, column 5: ZeroDivisionError: division by zero", 3),
    ("claims-null-byte", ["check", "--claims", "{tmp}/c.py"], {"c.py": b"x = 1\0\n"}, 2, "null byte at offset 5", 2),
    ("claims-not-utf8", ["check", "--claims", "{tmp}/c.py"], {"c.py": b"x = '\xff'\n"}, 2, "line 1", 2),
    ("claims-exit", ["check", "--claims", "{tmp}/c.py"], {"c.py": "import sys\nsys.exit(3)\n"}, 2,
     "line 2, column 1: called sys.exit", 3),
    ("claims-empty", ["check", "--claims", "{tmp}/c.py"], {"c.py": "CLAIMED = []\n"}, 2, "CLAIMED is empty", 3),
    ("claims-undefined", ["check", "--claims", "{tmp}/c.py"], {"c.py": "x = 1\n"}, 2, "must define CLAIMED", 3),
    ("claims-wrong-type", ["check", "--claims", "{tmp}/c.py"], {"c.py": "CLAIMED = [1]\n"}, 2,
     "must define CLAIMED", 3),
    ("claims-bad-family", ["check", "--claims", "{tmp}/c.py"],
     {"c.py": "from otgeom.claimed import ClaimedFormula\nCLAIMED = [ClaimedFormula('x', lambda c: 0.0, "
              "family='nosuch')]\n"}, 2, "CLAIMED[0] ('x'): unknown family 'nosuch'", 3),
    ("claims-formula-exits", ["check", "--claims", "{tmp}/c.py"],
     {"c.py": "import sys\nfrom otgeom.claimed import ClaimedFormula\nCLAIMED = [ClaimedFormula('x', lambda c: "
              "sys.exit(0))]\n"}, 2, "CLAIMED[0] ('x'): the formula called sys.exit", 15),
    ("claims-slow-load", ["check", "--claims", "{tmp}/c.py", "--timeout", "0.5"],
     {"c.py": "import time\ntime.sleep(100)\n"}, 2, "loading it took longer than --timeout 0.5 s", 3),
    # ---- report outputs
    ("report-format", ["report", "switch2", "--format", "pdf"], {}, 2, "invalid choice: 'pdf'", 2),
    ("report-seed", ["report", "switch2", "--seed", "-5"], {}, 2, "--seed", 2),
    ("report-too-big", ["report", "modulated", "--param", "n=6"], {}, 2, "supported up to n = 5", 3),
    ("report-dev-null", ["report", "switch2", "-o", "/dev/null"], {}, 2, "it is a character device", 2),
    ("report-fifo", ["report", "switch2", "-o", "{tmp}/r.md"], {"r.md": "fifo"}, 2, "it is a FIFO", 2),
    ("report-socket", ["report", "switch2", "-o", "{tmp}/s.md"], {"s.md": "socket"}, 2, "it is a socket", 2),
    ("report-symlink", ["report", "switch2", "-o", "{tmp}/r.md"], {"r.md": "symlink:target.md"}, 2,
     "it is a symbolic link (to target.md)", 2),
    ("report-dangling-figures", ["report", "switch2", "-o", "{tmp}/r.md"], {"r-figures": "symlink:elsewhere"}, 2,
     "r-figures exists and is a symbolic link, not a directory", 2),
    ("report-figures-is-file", ["report", "switch2", "-o", "{tmp}/r.md"], {"r-figures": "x"}, 2,
     "r-figures exists and is a regular file, not a directory", 2),
    ("report-tex-figures-is-file", ["report", "switch2", "--format", "tex", "-o", "{tmp}/r.tex"],
     {"r-figures": "x"}, 2, "not a directory", 2),
    ("report-empty-path", ["report", "switch2", "-o", ""], {}, 2, "the output path is empty", 2),
    ("report-long-name", ["report", "switch2", "-o", "{tmp}/" + "x" * 300 + ".md"], {}, 2, "too long", 2),
    ("report-missing-dir", ["report", "switch2", "-o", "{tmp}/missing/r.md"], {}, 2, "does not exist", 2),
    ("report-directory", ["report", "switch2", "-o", "{tmp}"], {}, 2, "it is a directory", 2),
    ("report-bad-param", ["report", "switch2", "--param", "q=[2,0.5]", "-o", "{tmp}/r.md"], {}, 2,
     "q[0] = 2 must be in the open interval", 2),
    # sweeps and the parallel check (issue 17)
    ("sweep-empty-box", ["sweep", "switch2", "--claim", "geodesic-speed", "--box", "k=2:1"], {}, 2,
     "must be below the high end", 2),
    ("sweep-unknown-claim", ["sweep", "switch2", "--claim", "nope", "--box", "k=1:2"], {}, 2, "unknown claim 'nope'", 2),
    ("sweep-unknown-parameter", ["sweep", "switch2", "--claim", "geodesic-speed", "--box", "zz=1:2"], {}, 2,
     "has no parameter 'zz'", 2),
    ("sweep-box-outside-domain", ["sweep", "switch2", "--claim", "geodesic-speed", "--box", "q=0:2"], {}, 2,
     "outside the domain", 3),
    ("sweep-bad-scheduler", ["sweep", "switch2", "--claim", "geodesic-speed", "--box", "k=1:2", "--scheduler", "foo"],
     {}, 2, "expected a Dask scheduler address", 2),
    ("sweep-lq", ["sweep", "lq", "--claim", "lq-action-gradient", "--box", "A=1:2"], {}, 2, "has none it can vary", 2),
    ("check-counterexamples-with-family", ["check", "--counterexamples", "--family", "switch2"], {}, 2,
     "takes no --family", 2),
]


def _make(tmp: Path, files: dict) -> None:
    for name, content in files.items():
        p = tmp / name
        if content == "dir":
            p.mkdir()
        elif content == "fifo":
            os.mkfifo(p)
        elif content == "socket":
            s = socket.socket(socket.AF_UNIX)
            s.bind(str(p))
            s.close()
        elif isinstance(content, str) and content.startswith("symlink:"):
            p.symlink_to(content.split(":", 1)[1])
        else:
            p.write_bytes(content if isinstance(content, bytes) else content.encode())


@pytest.mark.parametrize("argv, files, status, fragment, limit", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(argv, files, status, fragment, limit, tmp_path, capsys):
    _make(tmp_path, files)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    crashes = _internal_error_files()
    rc, out, err, elapsed = _run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert rc == status, err
    assert err.endswith("\n") and err.count("\n") <= 2, err
    assert err.startswith("otgeom: error: ") and "Traceback" not in err + out
    assert fragment.replace("{tmp}", str(tmp_path)) in err
    assert len(err) < 1000, "the message quotes at most an excerpt of the value"
    assert out == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "a file was left behind"
    assert _internal_error_files() == crashes
    assert elapsed < limit, f"took {elapsed:.1f} s"


def test_the_corpus_is_large_and_covers_every_command():
    assert len(CASES) >= 80
    commands = {c[1][0] for c in CASES if c[1]}
    assert {"families", "derive", "eval", "check", "sweep", "report"} <= commands


def test_help_documents_every_exit_status(capsys):
    rc, out, err, _ = _run(["--help"], capsys)
    assert rc == 0 and err == ""
    for code, text in EXIT_STATUSES:
        assert f"{code:>3}  {text}" in out
    readme = (HERE.parent / "README.md").read_text()
    for code, _ in EXIT_STATUSES:
        assert f"| {code} |" in readme, f"README's exit-status table lacks {code}"


# ------------------------------------------------------------------ the other statuses, in-process
def test_not_converged_prints_the_json_and_exits_3(tmp_path, capsys, monkeypatch):
    def unconverged(*a, **k):
        raise NotConvergedError("switch2: J has error bound 1e-3 > tolerance", {"J": 1.5, "converged": False})

    monkeypatch.setattr(EVALUATE, "evaluate", unconverged)
    (tmp_path / "p.json").write_text(GOOD_POLICY)
    rc, out, err, _ = _run(["eval", "switch2", "--policy", str(tmp_path / "p.json"), "--pretty"], capsys)
    assert rc == 3
    assert json.loads(out) == {"J": 1.5, "converged": False} and out.startswith("{\n  ")
    assert err == "otgeom: not converged: switch2: J has error bound 1e-3 > tolerance\n"


def test_a_non_finite_result_is_not_printed_as_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(EVALUATE, "evaluate", lambda *a, **k: {"J": 1.0, "grad_norm2": float("nan")})
    (tmp_path / "p.json").write_text(GOOD_POLICY)
    rc, out, err, _ = _run(["eval", "switch2", "--policy", str(tmp_path / "p.json")], capsys)
    assert rc == 3 and out == ""
    assert err.count("\n") == 1 and "grad_norm2 is not finite in float64" in err


def test_tolerance_reaches_evaluate(tmp_path, capsys, monkeypatch):
    seen = {}

    def spy(family, policy, symbolic=False, hessian=False, tolerance=None):
        seen["tolerance"] = tolerance
        return {"J": 1.0}

    monkeypatch.setattr(EVALUATE, "evaluate", spy)
    (tmp_path / "p.json").write_text(GOOD_POLICY)
    rc, out, _, _ = _run(["eval", "switch2", "--policy", str(tmp_path / "p.json"), "--tolerance", "1e-6"], capsys)
    assert rc == 0 and json.loads(out) == {"J": 1.0} and seen["tolerance"] == 1e-6


def test_internal_error_is_one_line_and_a_traceback_file(capsys, monkeypatch):
    def boom(args):
        raise RuntimeError("an otgeom bug\nwith two lines")

    monkeypatch.setattr(cli, "_cmd_families", boom)
    before = _internal_error_files()
    rc, out, err, _ = _run(["families"], capsys)
    assert rc == 70 and out == ""
    assert err.count("\n") == 1 and err.startswith("otgeom: internal error: RuntimeError: an otgeom bug with two")
    assert "please report; traceback in " in err
    path = err.strip().rsplit("traceback in ", 1)[1]
    assert path.startswith(tempfile.gettempdir()) and Path(path).name in _internal_error_files() - before
    text = Path(path).read_text()
    assert "Traceback (most recent call last)" in text and "an otgeom bug" in text and "command: otgeom" in text
    os.unlink(path)


@pytest.mark.parametrize("exc, status, line", [(KeyboardInterrupt, 130, "otgeom: interrupted\n"),
                                               (cli.Terminated, 143, "otgeom: terminated\n")])
def test_interruption_statuses(exc, status, line, capsys, monkeypatch):
    def stop(args):
        raise exc()

    monkeypatch.setattr(cli, "_cmd_families", stop)
    rc, out, err, _ = _run(["families"], capsys)
    assert (rc, out, err) == (status, "", line)


def test_unwritable_stdout_is_its_own_status(capsys, monkeypatch):
    class Full:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Full())
    rc = main(["families"])
    err = capsys.readouterr().err
    assert rc == 74 and err == "otgeom: error: cannot write to standard output: No space left on device\n"


def test_main_restores_signal_handlers_and_stdout(capsys):
    term, alarm, stdout = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGALRM), sys.stdout
    main(["families"])
    assert signal.getsignal(signal.SIGTERM) is term and signal.getsignal(signal.SIGALRM) is alarm
    assert sys.stdout is stdout


def test_warnings_are_one_line(tmp_path, capsys, monkeypatch):
    import warnings

    def noisy(args):
        for _ in range(3):
            warnings.warn("overflow encountered in multiply", RuntimeWarning)
        return 0

    monkeypatch.setattr(cli, "_cmd_families", noisy)
    rc, _, err, _ = _run(["families"], capsys)
    assert rc == 0 and err.count("\n") == 1 and "RuntimeWarning: overflow encountered in multiply" in err


# ------------------------------------------------------------------ claims files: time limit
def test_a_formula_that_never_returns_times_out_and_the_rest_go_on(tmp_path, capsys):
    (tmp_path / "c.py").write_text(
        "import time\nfrom otgeom.claimed import ClaimedFormula\n"
        "CLAIMED = [ClaimedFormula('sleeper', lambda ctx: time.sleep(1000)),\n"
        "           ClaimedFormula('catches', lambda ctx: [0 for _ in iter(int, 1)]),\n"
        "           ClaimedFormula('zero', lambda ctx: 0.0)]\n")
    rc, out, err, elapsed = _run(["check", "--claims", str(tmp_path / "c.py"), "--timeout", "1.5", "--json"], capsys)
    assert rc == 1, err
    recs = {r["name"]: r for r in json.loads(out)}
    for name in ("sleeper", "catches"):
        assert recs[name]["verdict"] == "inconclusive" and recs[name]["reason"].startswith("timed out after 1.5 s")
    assert recs["zero"]["verdict"] == "fails"
    assert elapsed < 30
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_directory_with_main_is_not_run(tmp_path, capsys):
    (tmp_path / "pkg.py").mkdir()
    (tmp_path / "pkg.py" / "__main__.py").write_text("open(__file__ + '.ran', 'w').close()\n")
    rc, _, err, _ = _run(["check", "--claims", str(tmp_path / "pkg.py")], capsys)
    assert rc == 2 and "is a directory" in err
    assert not (tmp_path / "pkg.py" / "__main__.py.ran").exists()


# ------------------------------------------------------------------ -o: devices, FIFOs, symlinks
def test_device_node_as_output_is_refused_and_untouched(tmp_path, capsys):
    if os.geteuid() != 0:
        pytest.skip("creating a character device node (os.mknod S_IFCHR) needs root")
    node = tmp_path / "r.md"
    os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a second /dev/null
    rc, out, err, elapsed = _run(["report", "lq", "--no-claims", "-o", str(node)], capsys)
    assert rc == 2 and "it is a character device; -o writes only regular files" in err
    assert stat.S_ISCHR(os.lstat(node).st_mode) and sorted(os.listdir(tmp_path)) == ["r.md"]
    assert elapsed < 2


def test_fifo_as_output_is_refused(tmp_path, capsys):
    os.mkfifo(tmp_path / "r.html")
    rc, _, err, _ = _run(["report", "lq", "--format", "html", "--no-claims", "-o", str(tmp_path / "r.html")], capsys)
    assert rc == 2 and "FIFO" in err
    assert stat.S_ISFIFO(os.lstat(tmp_path / "r.html").st_mode)


def test_symlink_as_output_is_refused_naming_its_target(tmp_path, capsys):
    target = tmp_path / "elsewhere.md"
    target.write_text("not the user's output\n")
    (tmp_path / "r.md").symlink_to(target)
    rc, _, err, _ = _run(["report", "lq", "--no-claims", "-o", str(tmp_path / "r.md")], capsys)
    assert rc == 2 and f"it is a symbolic link (to {target})" in err
    assert target.read_text() == "not the user's output\n" and (tmp_path / "r.md").is_symlink()


def test_a_non_regular_figure_file_is_refused_before_writing(tmp_path):
    from otgeom import family
    from otgeom.errors import ReportError
    from otgeom.report import build_report, write_report

    rep = build_report(family("lq"), claims=False)
    (tmp_path / "r-figures").mkdir()
    os.mkfifo(tmp_path / "r-figures" / "flow.svg")
    with pytest.raises(ReportError, match="flow.svg: it is a FIFO"):
        write_report(rep, "md", tmp_path / "r.md")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["flow.svg", "r-figures"]


# ------------------------------------------------------------------ subprocesses: real stdout and signals
def _terminal_like_signals() -> None:
    """In the child before exec: SIGINT at its default disposition, as under a terminal.  A test runner started in
    the background of a non-interactive shell has SIGINT ignored, and exec keeps an ignored signal ignored, so the
    Ctrl-C tests would otherwise test a process that is meant to ignore Ctrl-C (they hung that way)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _otgeom(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "otgeom.cli", *args], stderr=subprocess.PIPE, text=True,
                            preexec_fn=_terminal_like_signals, **kw)


def test_full_stdout_is_one_line_and_status_74():
    with open("/dev/full", "w") as full:
        p = _otgeom("families", stdout=full)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 74 and err == "otgeom: error: cannot write to standard output: No space left on device\n"


def test_closed_pipe_is_one_line_and_status_74():
    p = _otgeom("families", stdout=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read()
    p.wait(timeout=60)
    assert p.returncode == 74 and err == "otgeom: error: cannot write to standard output: Broken pipe\n"


def test_ctrl_c_is_one_line_and_status_130(tmp_path):
    marker = tmp_path / "started"
    (tmp_path / "c.py").write_text(
        "from otgeom.claimed import ClaimedFormula\n"
        f"open({str(marker)!r}, 'w').close()\n"
        "CLAIMED = [ClaimedFormula('forever', lambda ctx: [0 for _ in iter(int, 1)])]\n")
    p = _otgeom("check", "--claims", str(tmp_path / "c.py"), stdout=subprocess.PIPE)
    _wait_for(lambda: marker.exists(), p)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err == "otgeom: interrupted\n" and out == ""


def _wait_for(cond, p, limit=60.0):
    t0 = time.monotonic()
    while not cond():
        assert p.poll() is None, p.communicate()[1]
        assert time.monotonic() - t0 < limit, "timed out waiting"
        time.sleep(0.02)


@pytest.mark.parametrize("sig, status, line", [(signal.SIGTERM, 143, "otgeom: terminated\n"),
                                               (signal.SIGINT, 130, "otgeom: interrupted\n")])
def test_signal_during_the_write_leaves_the_previous_report_and_no_temporary_file(sig, status, line, tmp_path):
    target = tmp_path / "r.md"
    target.write_text("previous report\n")
    env = {**os.environ, "OTGEOM_TEST_WRITE_DELAY": "30"}
    p = _otgeom("report", "lq", "--no-claims", "-o", str(target), env=env, stdout=subprocess.PIPE)
    _wait_for(lambda: any(q.name.endswith(".tmp") for q in tmp_path.rglob(".*")), p)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, err, out) == (status, line, "")
    assert target.read_text() == "previous report\n"
    assert [q for q in tmp_path.rglob("*") if q.name.endswith(".tmp")] == []


# ------------------------------------------------------------------ fuzz: argument and JSON handling
_SPECIAL = ["1e400", "-1e400", "1e-400", "1e99999999", "NaN", "Infinity", "-0", '"1/3"', '"1/0"', '"0.5"', "true",
            "null", "[]", "{}", '"x"', "1e15", "-1e15", "1e-300", "0.99999999999999999999", "9" * 30, "[[1]]"]
_CHARS = "[]{},.:eE-+0123456789\"x /\\ n"


@st.composite
def _mutated(draw, base: str) -> str:
    text = base
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        c = draw(st.sampled_from(_CHARS))
        text = text[:i] + c + text[i:] if op == "insert" else text[:i] + text[i + 1:] if op == "delete" \
            else text[:i] + c + text[i + 1:]
    return text


_numbers = st.one_of(st.sampled_from(_SPECIAL), st.floats(allow_nan=True, allow_infinity=True).map(json.dumps),
                     st.integers(-10**20, 10**20).map(str), st.floats(0.01, 0.99).map(repr),
                     st.floats(-3, 3).map(repr))
_pairs = st.lists(_numbers, min_size=2, max_size=2).map(lambda v: "[" + ",".join(v) + "]")
_values = st.one_of(_pairs, _pairs, st.lists(_numbers, max_size=3).map(lambda v: "[" + ",".join(v) + "]"), _numbers,
                    _mutated("[0.3,0.6]"), _mutated('["1/3","2/3"]'), st.text(max_size=12))
_params = st.lists(st.tuples(st.sampled_from(["q", "k", "b", "t", "e", "q", "k", "b", "t", "e", "zz", "n", "",
                                              "q q", "example"]), _values), max_size=2, unique_by=lambda nv: nv[0]) \
    .map(lambda items: [f"{n}={v}" for n, v in items])
_policies = st.one_of(
    st.tuples(_pairs, _pairs).map(lambda ms: f'{{"mean": {ms[0]}, "std": {ms[1]}}}'),
    st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.05, 3), st.floats(0.05, 3))
    .map(lambda v: json.dumps({"mean": v[:2], "std": v[2:]})),
    _mutated(GOOD_POLICY), st.sampled_from([GOOD_POLICY, '{"mean": [0, 0], "std": [0.5, 2]}']),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")))
_OPTIONS = {"eval": [["--symbolic"], ["--hessian"], ["--pretty"], ["--tolerance", "1e-6"], ["--tolerance", "x"]],
            "derive": [["--full"], ["--width", "40"], ["--second-order"], ["--width", "-3"]],
            "families": [["extra"]]}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(command=st.sampled_from(["eval", "eval", "eval", "derive", "families"]), params=_params, policy=_policies,
       data=st.data())
def test_fuzz_every_case_ends_in_a_documented_status(command, params, policy, data, tmp_path_factory, capsys):
    tmp = tmp_path_factory.getbasetemp() / "fuzz"
    tmp.mkdir(exist_ok=True)
    (tmp / "p.json").write_text(policy, errors="surrogateescape")
    argv = [command] + ([] if command == "families" else ["switch2"])
    for item in params if command != "families" else []:
        argv += ["--param", item]
    if command == "eval":
        argv += ["--policy", str(tmp / "p.json")]
    for option in data.draw(st.lists(st.sampled_from(_OPTIONS[command]), max_size=2, unique_by=tuple)):
        argv += option
    crashes = _internal_error_files()
    rc, out, err, elapsed = _run(argv, capsys)
    assert rc in DOCUMENTED - {70} and rc in (0, 1, 2, 3), (argv, err)
    assert "Traceback" not in err and err.count("\n") <= 2, (argv, err)
    assert _internal_error_files() == crashes
    assert elapsed < 20, argv
    if rc == 0 and command == "eval":
        json.loads(out)


def test_ctrl_c_while_the_command_loads_is_one_line_and_status_130():
    """SIGINT while numpy, scipy and sympy are still being imported (before main runs)."""
    exe = Path(sys.executable).parent / "otgeom"
    if not exe.exists():
        pytest.skip(f"the console script is not installed beside {sys.executable}")
    p = subprocess.Popen([str(exe), "families"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(0.15)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err == "otgeom: interrupted\n" and out == ""


def test_report_with_a_stiff_flow_ends_in_seconds_and_says_so(capsys):
    t0 = time.monotonic()
    rc = main(["report", "switch2", "--param", "e=[1000000,0]", "--no-claims"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == "" and time.monotonic() - t0 < 60
    assert "was not integrated to the end" in out and "right-hand-side evaluations" in out


def test_report_lq_with_a_fast_decay_has_no_internal_error(capsys):
    rc = main(["report", "lq", "--param", "A=1000000", "--no-claims"])
    out, err = capsys.readouterr()
    assert rc == 0 and "internal error" not in err and "Flow trajectories" in out
