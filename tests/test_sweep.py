"""Sweeps beyond one process (issue 17): tasks, the local Dask cluster, the fork pool, the CLI's sweep and check.

The records of a run do not depend on where or in which order its tasks ran (every claim seeds its own generator):
the serial run and a 2-worker local Dask cluster give the same JSON, a task that raises is a record with its seed,
and a scheduler that cannot be reached is one line and exit status 2, at once.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from fractions import Fraction

import pytest

from otgeom.sweep import (DENOMINATOR, SchedulerError, Task, check_box, parse_box, public, run_task, run_tasks,
                          sweep_table, sweep_tasks)
from otgeom.errors import ParameterError

#: cheap claims on switch2 (a few tens of milliseconds a task)
CHEAP = ["first-variation", "poisson-equation"]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "otgeom.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _tasks() -> list[Task]:
    box = parse_box(["k=1/2:4", "b[1]=-1:1"])
    tasks = sweep_tasks(CHEAP, "switch2", box, 3, seed=11)
    # a task that raises in the worker (a point outside the domain) and one whose claim does not exist
    return tasks + [Task("first-variation", "switch2", {"q": ["3/2", "1/2"]}, 5), Task("no-such-claim", "switch2", {}, 6)]


def test_sweep_tasks_are_exact_reproducible_and_inside_the_box():
    box = parse_box(["k=1/2:4", "q[0]=0.1:0.9"])
    a = sweep_tasks(CHEAP, "switch2", box, 5, seed=3)
    assert a == sweep_tasks(CHEAP, "switch2", box, 5, seed=3)
    assert a != sweep_tasks(CHEAP, "switch2", box, 5, seed=4)
    assert len(a) == 10 and [t.claim for t in a[:2]] == CHEAP
    assert a[0].params == a[1].params and a[0].seed != a[1].seed  # one point, a seed per task
    assert len({t.seed for t in a}) == 10
    for t in a:
        assert Task.from_json(json.loads(json.dumps(t.to_json()))) == t
        ks = [Fraction(v) for v in t.params["k"]]
        q0 = Fraction(t.params["q"][0])
        assert all(Fraction(1, 2) <= k <= 4 and (k * DENOMINATOR).denominator == 1 for k in ks)
        assert Fraction(1, 10) <= q0 <= Fraction(9, 10)
        assert t.params["q"][1] == "4/5"  # the other element keeps its default


def test_a_task_that_raises_is_a_record_with_its_seed():
    rec = run_task(Task("first-variation", "switch2", {"q": ["3/2", "1/2"]}, 5))
    assert rec["result"] is None and rec["task"]["seed"] == 5 and rec["task"]["claim"] == "first-variation"
    assert rec["failure"]["error"].startswith("ParameterError:") and "q" in rec["failure"]["error"]
    assert "Traceback" in rec["failure"]["traceback"]
    rec = run_task(Task("no-such-claim", "switch2", {}, 6))
    assert rec["task"]["seed"] == 6 and "unknown claim" in rec["failure"]["error"]
    table = sweep_table([rec])
    assert table[0]["raised"] == 1 and table[0]["first_raised"]["seed"] == 6


def test_serial_fork_and_local_dask_cluster_give_the_same_records():
    tasks = _tasks()
    serial = [public(r) for r in run_tasks(tasks, workers=1, progress=False)]
    dask = [public(r) for r in run_tasks(tasks, workers=2, progress=False)]
    fork = [public(r) for r in run_tasks(tasks, workers=2, backend="fork", progress=False)]
    assert json.dumps(dask, sort_keys=True) == json.dumps(serial, sort_keys=True)
    assert json.dumps(fork, sort_keys=True) == json.dumps(serial, sort_keys=True)
    assert [r["task"] for r in serial] == [t.to_json() for t in tasks]  # task order
    assert [r["failure"] is None for r in serial] == [True] * 6 + [False, False]
    assert serial[-2]["task"]["seed"] == 5 and "ParameterError" in serial[-2]["failure"]["error"]


def test_box_errors():
    with pytest.raises(ParameterError, match="below the high end"):
        parse_box(["k=2:1"])
    with pytest.raises(ParameterError, match="NAME=LO:HI"):
        parse_box(["k=2"])
    with pytest.raises(ParameterError, match="no parameter 'zz'"):
        check_box("switch2", {}, parse_box(["zz=0:1"]))
    with pytest.raises(ParameterError, match="index"):
        check_box("switch2", {}, parse_box(["k[5]=1:2"]))
    with pytest.raises(ParameterError, match="low end 0 is outside the domain"):
        check_box("switch2", {}, parse_box(["q=0:1/2"]))
    with pytest.raises(ParameterError, match="no multiple"):
        check_box("switch2", {}, parse_box(["k=1/3000000:1/2000000"]))


def test_unreachable_scheduler_is_a_clear_error_at_once():
    t0 = time.perf_counter()
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_tasks(_tasks()[:1], scheduler="tcp://127.0.0.1:9", connect_timeout=2)
    assert time.perf_counter() - t0 < 5
    for command in (["sweep", "switch2", "--claim", "poisson-equation", "--box", "k=1:2", "--samples", "2"],
                    ["check", "--family", "switch2", "--claim", "poisson-equation"]):
        r = _cli(*command, "--scheduler", "tcp://127.0.0.1:9")
        assert r.returncode == 2, r.stderr
        assert r.stdout == ""  # nothing printed before the scheduler answers
        assert r.stderr.strip().splitlines() == [
            "otgeom: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9: Connection refused"]
    r = _cli("check", "--scheduler", "not-an-address")
    assert r.returncode == 2 and "expected a Dask scheduler address" in r.stderr and "Traceback" not in r.stderr


def test_cli_sweep_table_and_json():
    args = ["sweep", "switch2", "--claim", "first-variation", "--claim", "poisson-equation", "--box", "k=0.5:4",
            "--box", "b[0]=-1:1", "--samples", "3", "--seed", "7", "--workers", "2"]
    r = _cli(*args)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("# switch2: 3 points from the box k in [1/2, 4], b[0] in [-1, 1] (seed 7)")
    assert lines[1].split()[:3] == ["claim", "tasks", "holds"]
    assert lines[2].split()[:7] == ["first-variation", "3", "3", "0", "0", "0", "0"]
    assert lines[3].split()[:3] == ["poisson-equation", "3", "3"] and "at seed" in lines[3]
    j = _cli(*args[:-2], "--workers", "1", "--json")
    assert j.returncode == 0, j.stderr
    data = json.loads(j.stdout)
    assert len(data["tasks"]) == 6 and data["box"] == {"k": ["1/2", "4"], "b[0]": ["-1", "1"]}
    assert [c["claim"] for c in data["claims"]] == ["first-variation", "poisson-equation"]
    worst = data["claims"][0]["worst"]
    assert any(t["task"]["seed"] == worst["seed"] and t["task"]["params"] == worst["params"] for t in data["tasks"])
    # a task reruns from its JSON with otgeom check
    task = data["tasks"][0]["task"]
    c = _cli("check", "--family", "switch2", "--claim", task["claim"], "--seed", str(task["seed"]), "--json",
             *[a for k, v in task["params"].items() for a in ("--param", f"{k}={json.dumps(v)}")])
    assert c.returncode == 0, c.stderr
    assert json.loads(c.stdout) == [data["tasks"][0]["result"]]


@pytest.mark.parametrize("args, message", [
    (["--claim", "no-such", "--box", "k=1:2"], "unknown claim 'no-such'"),
    (["--claim", "poisson-equation", "--box", "k=2:1"], "must be below the high end"),
    (["--claim", "poisson-equation", "--box", "zz=1:2"], "switch2 has no parameter 'zz'"),
    (["--claim", "poisson-equation", "--box", "q=0:1/2"], "the low end 0 is outside the domain"),
    (["--claim", "lq-ergodic-cost-grid", "--box", "k=1:2"], "is about lq families"),
])
def test_cli_sweep_bad_input_is_one_line_and_status_2(args, message):
    r = _cli("sweep", "switch2", *args, "--samples", "2")
    assert r.returncode == 2, r.stderr
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr


def test_cli_check_workers_output_is_the_serial_output():
    args = ["check", "--family", "switch2", "--claim", "first-variation", "--claim", "poisson-equation",
            "--claim", "riemannian-gradient"]
    one = _cli(*args, "--workers", "1")
    two = _cli(*args, "--workers", "2")
    assert one.returncode == two.returncode == 0, two.stderr
    assert two.stdout == one.stdout and len(one.stdout.splitlines()) == 5
    assert _cli(*args, "--workers", "2", "--json").stdout == _cli(*args, "--workers", "1", "--json").stdout
    r = _cli("check", "--claims", "x.py", "--workers", "2")
    assert r.returncode == 2 and "--workers and --scheduler are for the claim suite" in r.stderr


@pytest.mark.slow
def test_default_check_in_parallel_is_byte_identical_to_serial():
    serial = _cli("check", "--workers", "1", timeout=900)
    parallel = _cli("check", "--workers", "2", timeout=900)
    assert parallel.returncode == serial.returncode
    assert parallel.stdout == serial.stdout
