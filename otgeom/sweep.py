"""Sweeps: claim x family x parameter-point tasks, run serially, by a local Dask cluster, or on a Dask scheduler.

A :class:`Task` is (claim name, family name, family parameters as JSON, seed): everything a worker needs, and
everything a reader needs to rerun it (``otgeom check --family F --param ... --claim C --seed S`` gives the same
record).  :func:`run_task` builds the family in the worker (cached per process: family construction is sympy work)
and returns a JSON record; it never raises: a task that raises comes back as a record with its seed, claim, family
and the exception, and so does a task whose worker died.  Every claim seeds its own generator, so the records do
not depend on which process ran a task or in which order: :func:`run_tasks` returns them in task order, the same
serially (``workers=1``), on a :class:`dask.distributed.LocalCluster` of processes (the default, one worker per
core) and on an existing scheduler (``scheduler="tcp://host:8786"``: its workers need otgeom installed).

Why Dask rather than :mod:`multiprocessing`: the same code runs on one machine and on a cluster, by address.  The
fork pool (:func:`iter_tasks` with ``backend="fork"``) is kept for short runs on one machine (``otgeom check``),
where it starts in milliseconds and its workers inherit the families already built.

:func:`sweep_tasks` draws parameter points uniformly from a box, as exact rationals of denominator
:data:`DENOMINATOR` (a record's parameters reproduce the task exactly); :func:`sweep_table` summarises the records
per claim.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import traceback
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from otgeom.errors import OtgeomError, ParameterError

__all__ = ["Task", "run_task", "executing", "iter_tasks", "run_tasks", "sweep_tasks", "sweep_table", "parse_box",
           "check_box", "SchedulerError", "DENOMINATOR", "MAX_TASKS", "default_workers", "public", "cached_family",
           "remember_family"]

#: sweep parameter values are integers over this denominator (exact, and short in JSON)
DENOMINATOR = 10**6

#: the most tasks one sweep may hold (claims x samples)
MAX_TASKS = 10**6

#: the most warnings a task's record keeps
MAX_WARNINGS = 20

#: how long to wait for a ``--scheduler`` address before giving up (seconds)
CONNECT_TIMEOUT = 10.0


class SchedulerError(OtgeomError):
    """The Dask scheduler cannot be reached, or the local cluster cannot start."""


@dataclass(frozen=True)
class Task:
    """One independent unit of work: ``claim`` on ``family(**params)`` with ``seed``."""

    claim: str
    family: str
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "family": self.family, "params": dict(self.params), "seed": self.seed}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Task":
        return cls(data["claim"], data["family"], dict(data.get("params", {})), int(data.get("seed", 0)))


def default_workers() -> int:
    return os.cpu_count() or 1


# --------------------------------------------------------------------------- one task
_FAMILIES: dict[tuple[str, str], Any] = {}  # per process: (name, canonical JSON of params) -> family


def _family_key(name: str, params: Mapping[str, Any]) -> tuple[str, str]:
    return name, json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def cached_family(name: str, params: Mapping[str, Any]):
    """The family ``name(**params)``, built once per process."""
    key = _family_key(name, params)
    fam = _FAMILIES.get(key)
    if fam is None:
        from otgeom.families import family

        fam = _FAMILIES[key] = family(name, **dict(params))
    return fam


def remember_family(name: str, params: Mapping[str, Any], fam: Any) -> None:
    """Seed this process's family cache with an already built family (forked workers inherit it)."""
    _FAMILIES[_family_key(name, params)] = fam


def run_task(task: Task) -> dict[str, Any]:
    """Run one task; return ``{"task", "result", "failure", "warnings"}``.  Never raises (but KeyboardInterrupt).

    ``result`` is the claim's :meth:`~otgeom.claims.ClaimResult.to_json` (None when the task raised);
    ``failure`` is None or ``{"error": "Type: message", "traceback": text}``; ``warnings`` lists the warnings the
    task issued as ``[category name, message]`` (their classes are in ``_warning_classes``, for the CLI).
    """
    record: dict[str, Any] = {"task": task.to_json(), "result": None, "failure": None, "warnings": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            from proofs_checks import claim

            fam = cached_family(task.family, task.params)
            record["result"] = claim(task.claim).run(fam, seed=task.seed).to_json()
        except (Exception, SystemExit) as exc:
            record["failure"] = {"error": _exception_text(exc),
                                 "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))}
    caught = caught[:MAX_WARNINGS]
    record["warnings"] = [[w.category.__name__, str(w.message)] for w in caught]
    record["_warning_classes"] = [w.category for w in caught]
    return record


def run_chunk(tasks: Sequence[Task]) -> list[dict[str, Any]]:
    """:func:`run_task` on each task in order (one Dask future for several tasks; each keeps its own seed)."""
    return [run_task(t) for t in tasks]


def _exception_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _lost(task: Task, exc: BaseException) -> dict[str, Any]:
    """The record of a task whose worker died or whose result could not be fetched."""
    return {"task": task.to_json(), "result": None,
            "failure": {"error": f"task lost: {_exception_text(exc)}",
                        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))},
            "warnings": [], "_warning_classes": []}


def public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its private keys (what JSON output shows)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


# --------------------------------------------------------------------------- many tasks
@contextlib.contextmanager
def executing(tasks: Sequence[Task], workers: int | None = None, scheduler: str | None = None,
              backend: str = "dask", progress: bool | None = None,
              connect_timeout: float = CONNECT_TIMEOUT) -> Iterator[Iterator[dict[str, Any]]]:
    """Start the workers (connect to ``scheduler``) on entry, then give an iterator of :func:`run_task` records in
    task order as they become available; the cluster or pool is shut down on exit, also on KeyboardInterrupt.

    ``workers == 1`` (and no scheduler): in this process.  ``scheduler``: a Dask scheduler's address
    (``tcp://host:port``); :class:`SchedulerError` on entry when it does not answer within ``connect_timeout``
    seconds.  Otherwise ``backend="dask"``: a local Dask cluster of ``workers`` processes (default: the cores), or
    ``backend="fork"``: forked workers (they inherit this process's modules and family cache; see
    :func:`_fork_pool`).  ``progress``: a tqdm bar on stderr (None: when stderr is a terminal).
    """
    from otgeom.numeric.flows import progress_bar

    tasks = list(tasks)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ParameterError(f"workers = {workers}: expected at least 1")
    if scheduler is None and (workers == 1 or len(tasks) <= 1):
        context: Any = contextlib.nullcontext(map(run_task, tasks))
    elif scheduler is None and backend == "fork" and "fork" in multiprocessing.get_all_start_methods():
        context = _fork_pool(tasks, workers)
    else:
        context = _dask(tasks, workers, scheduler, connect_timeout)
    with context as source, progress_bar(len(tasks), progress, "tasks") as bar:
        def counted() -> Iterator[dict[str, Any]]:
            for record in source:
                bar.update(1)
                yield record

        yield counted()


def iter_tasks(tasks: Sequence[Task], workers: int | None = None, scheduler: str | None = None,
               backend: str = "dask", progress: bool | None = None,
               connect_timeout: float = CONNECT_TIMEOUT) -> Iterator[dict[str, Any]]:
    """The records of :func:`executing` as a generator (the workers start at the first ``next``)."""
    with executing(tasks, workers, scheduler, backend, progress, connect_timeout) as records:
        yield from records


def run_tasks(tasks: Sequence[Task], workers: int | None = None, scheduler: str | None = None,
              backend: str = "dask", progress: bool | None = None,
              connect_timeout: float = CONNECT_TIMEOUT) -> list[dict[str, Any]]:
    """Every record of :func:`iter_tasks`, in task order (identical to the serial run's)."""
    with contextlib.closing(iter_tasks(tasks, workers, scheduler, backend, progress, connect_timeout)) as it:
        return list(it)


def _quiet_fork_worker() -> None:
    """A forked worker: Ctrl-C is the parent's business (it terminates the pool); one BLAS thread."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _one_blas_thread()


def _one_blas_thread() -> None:
    """One OpenBLAS thread in this (forked) worker: the workers already take every core, and OpenBLAS's own threads
    would oversubscribe them (measured: the default check 28.5 s -> 26 s on 2 cores; Dask's workers get the same
    from OPENBLAS_NUM_THREADS=1 at spawn).  The environment variable is read only when the library loads, so the
    libraries already loaded (numpy's and scipy's) are set through ctypes; anything unexpected leaves them as
    they are.  Thread counts do not change results here (the parallel check's output is compared with the serial
    one's, byte for byte, by the tests)."""
    import ctypes

    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # for a library loaded later
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(1))
                break


def _fork_worker(conn: Any, tasks: list[Task]) -> None:
    """A forked worker: runs the task indices it is sent (``tasks`` came with the fork), None ends it."""
    _quiet_fork_worker()
    while True:
        try:
            i = conn.recv()
        except (EOFError, OSError):
            return
        if i is None:
            return
        conn.send((i, run_task(tasks[i])))


@contextlib.contextmanager
def _fork_pool(tasks: list[Task], workers: int) -> Iterator[Iterator[dict[str, Any]]]:
    """Forked workers with family affinity: a worker keeps to the family it started (its caches, the symbolic
    derivations and compiled functions, are warm for it) and moves to a family no other worker is on when its own
    is done; only then does it take tasks from the end of another worker's family.  Records come back in task order.
    """
    from collections import deque
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork")
    groups: dict[tuple[str, str], deque] = {}
    for i, t in enumerate(tasks):
        groups.setdefault(_family_key(t.family, t.params), deque()).append(i)
    n = min(workers, len(tasks))
    conns, procs = [], []
    try:
        for _ in range(n):
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_fork_worker, args=(there, tasks), daemon=True)
            proc.start()
            there.close()
            conns.append(here)
            procs.append(proc)
        yield _affinity_schedule(tasks, groups, conns, procs, wait)
        for conn in conns:  # done: idle workers end on None
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        for proc in procs:
            proc.join(timeout=5)
    finally:  # interrupted (or a worker that did not end): busy workers are terminated
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for conn in conns:
            conn.close()


def _affinity_schedule(tasks: list[Task], groups: dict, conns: list, procs: list,
                       wait: Any) -> Iterator[dict[str, Any]]:
    home: list[Any] = [None] * len(conns)
    running: dict[int, int] = {}  # worker -> task index

    def pick(w: int) -> int | None:
        own = groups.get(home[w])
        if own:
            return own.popleft()
        others = {home[v] for v in running if v != w}
        free = [k for k, q in groups.items() if q and k not in others]
        if free:
            home[w] = free[0]  # suite order: the records stream out early
            return groups[free[0]].popleft()
        busy = max((k for k, q in groups.items() if q), key=lambda k: len(groups[k]), default=None)
        if busy is None:
            return None
        home[w] = busy
        return groups[busy].pop()  # from the end: the family's own worker keeps its order

    def assign(w: int) -> None:
        i = pick(w)
        if i is not None:
            conns[w].send(i)
            running[w] = i

    done: dict[int, dict[str, Any]] = {}
    for w in range(len(conns)):
        assign(w)
    nxt = 0
    while nxt < len(tasks):
        if nxt in done:
            yield done.pop(nxt)
            nxt += 1
            continue
        if not running:  # every worker died: the rest is lost, but reported
            for q in groups.values():
                while q:
                    i = q.popleft()
                    done[i] = _lost(tasks[i], RuntimeError("no worker process left"))
            continue
        ready = wait([conns[w] for w in running])
        for w in [v for v in running if conns[v] in ready]:
            try:
                i, record = conns[w].recv()
            except (EOFError, OSError) as exc:
                i = running.pop(w)
                code = procs[w].exitcode
                done[i] = _lost(tasks[i], RuntimeError(f"worker process ended (exit code {code}): {exc!r}"))
                continue
            del running[w]
            done[i] = record
            assign(w)


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's own log lines and warnings (ports, versions, event loop) stay out of otgeom's output."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "bokeh", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            for module in ("distributed", "dask", "tornado", "bokeh"):
                warnings.filterwarnings("ignore", module=module)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def _dask(tasks: list[Task], workers: int, scheduler: str | None,
          connect_timeout: float) -> Iterator[Iterator[dict[str, Any]]]:
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover (a dependency)
        raise SchedulerError(f"Dask is not installed ({exc}); pip install 'dask[distributed]'") from None
    cluster = client = None
    with _quiet_dask(), dask.config.set({"distributed.admin.tick.limit": "1h",  # no "event loop unresponsive"
                                         "distributed.scheduler.work-stealing": True,
                                         "distributed.worker.daemon": False,
                                         "distributed.comm.timeouts.connect": f"{connect_timeout}s"}):
        try:
            if scheduler is not None:
                _probe(scheduler, connect_timeout)
                try:
                    client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
                except Exception as exc:
                    raise SchedulerError(f"cannot connect to the Dask scheduler at {scheduler} "
                                         f"({_exception_text(exc)})") from None
            else:
                try:
                    with _sigint_ignored():  # the workers inherit it: Ctrl-C is this process's to handle
                        cluster = LocalCluster(n_workers=min(workers, len(tasks)), threads_per_worker=1,
                                               processes=True, dashboard_address=None, worker_dashboard_address=None,
                                               silence_logs=logging.CRITICAL, host="127.0.0.1")
                    client = Client(cluster, set_as_default=False)
                except (OSError, RuntimeError, TimeoutError) as exc:
                    raise SchedulerError(f"the local Dask cluster did not start ({_exception_text(exc)})") from None
            # tasks go in chunks (about 8 per worker, at most 50 tasks each): one future per task costs the scheduler
            # a few ms, as much as a cheap claim, and on a small machine the scheduler shares the cores
            size = max(1, min(50, -(-len(tasks) // (8 * max(1, workers)))))
            chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
            futures = client.map(run_chunk, chunks, pure=False)

            def records() -> Iterator[dict[str, Any]]:
                for chunk, fut in zip(chunks, futures):
                    try:
                        done = fut.result()
                    except Exception as exc:  # KilledWorker, a lost connection: the tasks are reported, not lost
                        done = [_lost(task, exc) for task in chunk]
                    yield from done

            try:
                yield records()
            finally:
                with contextlib.suppress(Exception):
                    client.cancel(futures)
        finally:
            _shutdown(client, cluster)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while worker processes are spawned (they keep it ignored: a Ctrl-C reaches the whole process
    group, and only this process, which shuts them down, should act on it).  Main thread only."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _probe(address: str, timeout: float) -> None:
    """SchedulerError unless a Dask scheduler answers at ``address``: a refused connection is reported at once,
    an address that does not answer after ``timeout`` seconds, and a server that is not Dask (its handshake fails),
    before a :class:`~dask.distributed.Client` is made (a client that fails half-built hangs in its finaliser)."""
    import asyncio
    import socket

    from distributed.comm import connect, parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise SchedulerError(f"--scheduler {address}: not a Dask address ({exc})") from None
    where = f"the Dask scheduler at {address}"
    if scheme in ("tcp", "tls", "ws", "wss"):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except socket.timeout:
            raise SchedulerError(f"{where} did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise SchedulerError(f"cannot reach {where}: {exc.strerror or exc}") from None

    async def handshake() -> None:
        comm = await connect(address, timeout=timeout)
        await comm.close()

    try:
        asyncio.run(asyncio.wait_for(handshake(), timeout + 1))
    except (asyncio.TimeoutError, TimeoutError):
        raise SchedulerError(f"{where} did not answer within {timeout:g} s") from None
    except Exception as exc:
        raise SchedulerError(f"{address} does not answer as a Dask scheduler ({_exception_text(exc)[:160]})") from None


def _shutdown(client: Any, cluster: Any) -> None:
    """Close client and cluster; a second Ctrl-C during shutdown does not leave worker processes behind."""
    for obj in (client, cluster):
        if obj is None:
            continue
        try:
            obj.close(timeout=10)
        except KeyboardInterrupt:
            with contextlib.suppress(BaseException):
                obj.close(timeout=2)
            raise
        except Exception:
            pass


# --------------------------------------------------------------------------- sweeps over a box
def parse_box(items: Sequence[str]) -> dict[str, tuple[Fraction, Fraction]]:
    """``NAME=LO:HI`` (or ``NAME[i]=LO:HI``, ``NAME[i][j]=LO:HI``) -> ``{entry: (lo, hi)}`` as exact Fractions."""
    import re

    from otgeom.limits import excerpt, parse_exact

    box: dict[str, tuple[Fraction, Fraction]] = {}
    for item in items:
        m = re.fullmatch(r"\s*([A-Za-z_]\w*(?:\[\d{1,3}\])*)\s*=\s*([^:]+):([^:]+)", item)
        if not m:
            raise ParameterError(f"--box {excerpt(item)}: expected NAME=LO:HI (or NAME[i]=LO:HI), e.g. k=0.5:4")
        name = m[1].replace(" ", "")
        lo = parse_exact(m[2].strip(), f"--box {name} low end")
        hi = parse_exact(m[3].strip(), f"--box {name} high end")
        if not lo < hi:
            raise ParameterError(f"--box {excerpt(item)}: the low end {_text(lo)} must be below the high end {_text(hi)}")
        if name in box:
            raise ParameterError(f"--box {excerpt(name, quote=False)} is given twice")
        box[name] = (lo, hi)
    return box


def _text(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _split_entry(entry: str) -> tuple[str, tuple[int, ...]]:
    name, _, rest = entry.partition("[")
    idx = tuple(int(i) for i in ("[" + rest).replace("]", "").split("[")[1:]) if rest else ()
    return name, idx


def _base_values(family_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The family's parameter values (defaults filled in) as JSON: exact rationals as strings."""
    fam = cached_family(family_name, params)
    values = getattr(fam, "values", None)
    if not isinstance(values, Mapping):
        raise ParameterError(f"{family_name}: a sweep varies the parameters of a finite-state or grid family; "
                             f"{getattr(fam, 'label', family_name)} has none it can vary")

    def js(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return js(v.tolist())
        if isinstance(v, (list, tuple)):
            return [js(x) for x in v]
        if isinstance(v, (bool, str)) or v is None:
            return v
        if isinstance(v, (int, np.integer)):
            return int(v)
        try:
            return _text(Fraction(str(v)))
        except (ValueError, ZeroDivisionError):
            return str(v)

    return {k: js(v) for k, v in values.items()}


def _with_entry(params: Mapping[str, Any], base: Mapping[str, Any], entry: str, value: str) -> dict[str, Any]:
    """``params`` with one box entry (a whole parameter, or one element) set to ``value``."""
    import copy

    name, idx = _split_entry(entry)
    out = dict(params)
    current = copy.deepcopy(out.get(name, base[name]))
    if not idx:
        out[name] = _fill(current, value)
        return out
    target = current
    for k in idx[:-1]:
        target = target[k]
    target[idx[-1]] = value
    out[name] = current
    return out


def _fill(shape_like: Any, value: str) -> Any:
    if isinstance(shape_like, list):
        return [_fill(x, value) for x in shape_like]
    return value


def check_box(family_name: str, params: Mapping[str, Any], box: Mapping[str, tuple[Fraction, Fraction]]) -> None:
    """ParameterError when a box names an unknown parameter or entry, is narrower than 1/DENOMINATOR, or has an
    end outside the parameter's domain (each end is validated as a family, the other entries at their base)."""
    from otgeom.limits import excerpt

    base = _base_values(family_name, params)
    for entry, (lo, hi) in box.items():
        name, idx = _split_entry(entry)
        if name not in base:
            raise ParameterError(f"--box {excerpt(entry, quote=False)}: {family_name} has no parameter "
                                 f"{excerpt(name)} to vary; its parameters: {', '.join(base)}")
        target = base[name]
        for depth, k in enumerate(idx):
            if not isinstance(target, list) or not 0 <= k < len(target):
                raise ParameterError(f"--box {excerpt(entry, quote=False)}: index {list(idx[:depth + 1])} is outside "
                                     f"{name}, which is {json.dumps(base[name])}")
            target = target[k]
        if any(f"{name}[" in other for other in box if other != entry) and not idx:
            raise ParameterError(f"--box {excerpt(entry, quote=False)}: {name} is boxed whole and by element")
        if math.ceil(lo * DENOMINATOR) > math.floor(hi * DENOMINATOR):
            raise ParameterError(f"--box {excerpt(entry, quote=False)}: {_text(lo)}:{_text(hi)} holds no multiple of "
                                 f"1/{DENOMINATOR}")
        for end, label in ((lo, "low"), (hi, "high")):
            try:
                cached_family(family_name, _with_entry(params, base, entry, _text(end)))
            except OtgeomError as exc:
                raise ParameterError(f"--box {excerpt(entry, quote=False)}: the {label} end {_text(end)} is outside "
                                     f"the domain: {exc}") from None


def sweep_tasks(claims: Sequence[str], family_name: str, box: Mapping[str, tuple[Any, Any]], samples: int,
                seed: int = 0, params: Mapping[str, Any] | None = None) -> list[Task]:
    """``samples`` points drawn uniformly from ``box`` (``{entry: (lo, hi)}``), every claim at every point.

    Point ``i`` comes from child ``i`` of ``numpy.random.SeedSequence(seed)``: each entry an integer multiple of
    ``1/DENOMINATOR`` in ``[lo, hi]`` (uniform over those multiples), written as an exact rational string; the task
    of claim ``j`` there gets the seed of that child's child ``j``.  Tasks are point-major.  A whole vector parameter
    in the box has each element drawn independently.
    """
    params = dict(params or {})
    box = {k: (Fraction(lo), Fraction(hi)) for k, (lo, hi) in box.items()}
    base = _base_values(family_name, params) if box else {}
    tasks: list[Task] = []
    for child in np.random.SeedSequence(seed).spawn(samples):
        rng = np.random.default_rng(child)
        point = dict(params)
        for entry, (lo, hi) in box.items():
            klo, khi = math.ceil(lo * DENOMINATOR), math.floor(hi * DENOMINATOR)
            name, idx = _split_entry(entry)
            if idx:
                value = _text(Fraction(int(rng.integers(klo, khi, endpoint=True)), DENOMINATOR))
                point = _with_entry(point, base, entry, value)
            else:
                shape = np.shape(np.array(point.get(name, base[name]), dtype=object))
                draws = rng.integers(klo, khi, size=shape, endpoint=True)
                point[name] = _as_text(draws)
        for name, sub in zip(claims, child.spawn(len(claims))):
            task_seed = int(sub.generate_state(1, np.uint64)[0] >> np.uint64(1))  # 0 .. 2**63 - 1
            tasks.append(Task(name, family_name, point, task_seed))
    return tasks


def _as_text(draws: Any) -> Any:
    if isinstance(draws, np.ndarray) and draws.ndim:
        return [_as_text(x) for x in draws]
    return _text(Fraction(int(draws), DENOMINATOR))


def sweep_table(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per claim (in first-seen order): task count, verdict counts, failed tasks, and the worst error with its
    parameter point and seed (the first failed task, if any, with its seed and exception)."""
    from otgeom.claims import VERDICTS

    rows: dict[str, dict[str, Any]] = {}
    for rec in records:
        task = rec["task"]
        row = rows.setdefault(task["claim"], {"claim": task["claim"], "family": task["family"], "tasks": 0,
                                              **{v: 0 for v in VERDICTS}, "raised": 0, "worst": None,
                                              "first_raised": None})
        row["tasks"] += 1
        if rec["failure"] is not None:
            row["raised"] += 1
            if row["first_raised"] is None:
                row["first_raised"] = {"params": task["params"], "seed": task["seed"],
                                       "error": rec["failure"]["error"]}
            continue
        res = rec["result"]
        row[res["verdict"]] = row.get(res["verdict"], 0) + 1
        err = res["error"]
        if err is None:
            continue
        value = float(err) if isinstance(err, str) else err
        worst = row["worst"]
        if worst is None or _bigger(value, worst["error"]):
            row["worst"] = {"error": value, "error_unit": res["error_unit"], "verdict": res["verdict"],
                            "tolerance": res["tolerance"], "params": task["params"], "seed": task["seed"]}
    return list(rows.values())


def _bigger(a: float, b: float) -> bool:
    """a > b with NaN the largest (a NaN error is the worst there is)."""
    if math.isnan(b):
        return False
    return math.isnan(a) or a > b
