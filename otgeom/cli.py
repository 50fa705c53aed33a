"""``otgeom`` command line: families, derive, eval, check, sweep, report.

The CLI only parses, calls the API and serialises results.  :func:`main` is the one place that turns
every outcome into an exit status (:data:`EXIT_STATUSES`, printed by ``otgeom --help`` and listed in the
README): an error is one line on stderr, never a traceback.  Inputs are checked against
:mod:`otgeom.limits` before any computation.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import re
import signal
import sys
import tempfile
import threading
import traceback
import warnings
from typing import Any, Iterator, Mapping, Sequence

from otgeom.errors import EXIT_NOT_CONVERGED, NotConvergedError, OtgeomError, ParameterError, PolicyError
from otgeom.limits import (MAX_ARG_CHARS, check_symbolic_size, decode_text, excerpt, explain_underflow, load_json,
                           read_user_file)
from otgeom.textfmt import number

__all__ = ["main", "EXIT_STATUSES"]

EXIT_OK = 0
EXIT_CLAIM_FAILS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h)
EXIT_OUTPUT = 74  # EX_IOERR
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

#: every exit status of ``otgeom`` and its meaning (the README's table and ``otgeom --help``)
EXIT_STATUSES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_CLAIM_FAILS, "a claim fails (check)"),
    (EXIT_BAD_INPUT, "bad input or usage: one line on stderr, before any computation, nothing written"),
    (EXIT_NOT_CONVERGED, "not converged: a numeric result misses its accuracy (eval --tolerance; the JSON is "
                         "still printed), or an eval result is not finite in float64"),
    (EXIT_INTERNAL, "internal error (a bug): one line naming a file that holds the traceback; please report"),
    (EXIT_OUTPUT, "standard output cannot be written (closed pipe, full disk)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C, SIGINT)"),
    (EXIT_TERMINATED, "terminated (SIGTERM); temporary files are removed, a previous report stays intact"),
)

DEFAULT_TIMEOUT = 60.0
DEFAULT_TOLERANCE = 1e-10


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` and ``except BaseException`` clean-ups run."""


class _Timeout(BaseException):
    """A claimed formula's time limit (a BaseException: a formula's own ``except Exception`` cannot swallow it)."""


class _UsageError(Exception):
    """A command-line usage error (argparse's, or an argument beyond :data:`MAX_ARG_CHARS`)."""


class _StdoutError(Exception):
    """Standard output could not be written."""

    def __init__(self, exc: OSError, stream: Any):
        super().__init__(exc.strerror or str(exc))
        self.stream = stream


# --------------------------------------------------------------------------- parsing
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) that quote at most an excerpt of a value."""

    def error(self, message: str):  # noqa: D102 (argparse API)
        message = re.sub(r"'([^']{61,})'", lambda m: excerpt(m[1]), message)
        if len(message) > 300:
            message = message[:300] + "..."
        raise _UsageError(f"{message} (see: {self.prog} --help)")


def _int_in(low: int, high: int):
    def parse(text: str) -> int:
        if not re.fullmatch(r"\s*[-+]?\d{1,20}\s*", text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{excerpt(text)} is not an integer in {low}..{high}")
        return int(text)
    return parse


def _float_in(low: float, high: float):
    def parse(text: str) -> float:
        try:
            value = float(text) if len(text) <= 40 else math.nan
        except ValueError:
            value = math.nan
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"{excerpt(text)} is not a number in ({low:g}, {high:g}]")
        return value
    return parse


def _family_name(text: str) -> str:
    from otgeom.families import family_names

    if text not in family_names():
        raise argparse.ArgumentTypeError(f"unknown family {excerpt(text)}; known: {', '.join(family_names())}")
    return text


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``--param NAME=VALUE`` (VALUE is JSON, within :mod:`otgeom.limits`) -> ``{name: value}``."""
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ParameterError(f"--param {excerpt(item)}: expected NAME=VALUE (VALUE is JSON, e.g. q=[0.3,0.6])")
        name, raw = item.split("=", 1)
        name = name.strip()
        if not name.isidentifier():
            raise ParameterError(f"--param {excerpt(item)}: {excerpt(name)} is not a parameter name")
        if name in out:
            raise ParameterError(f"--param {excerpt(name, quote=False)} is given twice")
        if name in ("example", "boundary") and not raw.strip().startswith('"'):
            out[name] = raw.strip()  # a bare name: example=dean (lq), boundary=reflecting (grid families)
            continue
        out[name] = load_json(raw, f"--param {excerpt(name, quote=False)}")
    return out


def _make_family(name: str, params: dict[str, Any]):
    """The family, with the command line's size limit on ``lq`` matrices checked before exact validation."""
    from otgeom.families import family
    from otgeom.limits import check_lq_sizes

    if name == "lq":
        check_lq_sizes(params)
    return family(name, **params)


def _family_arg(args, params: dict[str, Any]):
    """The family a command names: a built-in (positional name or --family) or a family file (--file F.toml)."""
    name = getattr(args, "family", None)
    if getattr(args, "file", None):
        if name:
            raise ParameterError(f"give a family name ({name}) or --file {excerpt(args.file, 200, quote=False)}, "
                                 "not both")
        from otgeom.familyfile import load_family

        return load_family(args.file, **params)
    if not name:
        raise _UsageError("name a family (otgeom families lists them) or give a family file with --file F.toml")
    return _make_family(name, params)


def _read_json_file(path: str, what: str, error: type) -> Any:
    where = f"{what} {excerpt(path, 200, quote=False)}"
    return load_json(decode_text(read_user_file(path, what, error=error), where, error), where, error)


# --------------------------------------------------------------------------- commands
def _cmd_families(args) -> int:
    from otgeom.families import KINDS

    for kind in KINDS.values():  # each kind of family describes its own (otgeom.families.protocol)
        for name in kind.names():
            for line in kind.describe(name):
                print(line)
    print("every number: 0 or 1e-300 <= |x| <= 1e15, at most 100 digits (see otgeom.limits)")
    print("your own families: otgeom derive|eval|check|report --file F.toml (README, \"Your own families\"; "
          "examples/families/)")
    return 0


def _cmd_derive(args) -> int:
    from otgeom.families import supports

    params = _parse_params(args.param)
    fam = _family_arg(args, params)
    return DERIVE[supports(fam).kind](fam, params, args)  # the family's kind picks its printer


def _derive_finite(fam, params: dict[str, Any], args) -> int:
    import sympy as sp

    from otgeom.symbolic.geometry import first_order

    if args.second_order:
        from otgeom.symbolic.second_order import second_order

        if fam.action_dim == 1:
            check_symbolic_size(fam, second_order=True)
        D = second_order(fam)  # ExpressionError (exit 2, one line) when d != 1
    else:
        from otgeom.errors import ExpressionError

        check_symbolic_size(fam)
        try:
            D = first_order(fam)
        except ExpressionError as exc:  # outside the closed-form class: a limit of the symbolic layer, not an error
            raise ExpressionError(f"{fam.label}: the symbolic derivation is not applicable: {exc}; the numeric path "
                                  "still applies (otgeom eval, otgeom check, otgeom report)") from None
    print(f"# {D.name}  (digest {D.digest}; {len(D.definitions)} named definitions)")
    structural = {st.name for st in fam.spec.structural}
    unused = sorted(k for k in params if k not in structural)
    if unused:
        print(f"# note: the formulas are in the parameter symbols; the values given for {', '.join(unused)} are not "
              "substituted (otgeom eval and otgeom report evaluate them)")
    inputs = f"# inputs: parameters {', '.join(map(str, fam.parameter_symbols()))}"
    rest = ', '.join(map(str, D.inputs[len(fam.parameter_symbols()):]))
    inputs += f"; coordinates and velocities {rest}" if args.second_order else f"; policy coordinates {rest}"
    print(inputs)
    for s, e in D.definitions:
        text = str(e)
        if len(text) > args.width and not args.full:
            text = f"<{len(sp.Add.make_args(e))} terms, {sp.count_ops(e)} operations; --full prints it>"
        print(f"{s} = {text}")
    if not args.second_order:
        for key in ("J", "rho", "h", "Q", "gradQ", "flow"):
            if str(D.outputs[key]) != key:  # an output that is a definition's name is printed above (J)
                print(f"{key} = {D.outputs[key]}")
        return 0
    for key in ("J", "rho", "metric", "christoffel", "geodesic", "hessian_coords", "hessian_riemannian", "drho",
                "dh", "dJ_v", "dQ"):
        for k, e in D.items(key):
            # leave out zero Christoffel symbols and metric entries, and outputs that are a definition's name
            if (e != 0 or key not in ("christoffel", "metric")) and str(e) != k:
                print(f"{k} = {e}")
    return 0


def _derive_grid(fam, params: dict[str, Any], args) -> int:
    if args.second_order:
        raise ParameterError(f"{fam.label}: --second-order is for finite families; a grid family's second "
                             "order comes from its drift's and cost's action derivatives (printed without it)")
    ex = fam.expressions
    print(f"# {fam.label}: grid family, {fam.n_states} states on "
          + " x ".join(f"{ax.name} in [{ax.lo:.6g}, {ax.hi:.6g}] ({ax.cells} cells, {ax.boundary}, noise "
                       f"{ax.noise:.6g})" for ax in fam.axes))
    print("# kernel: p(j|i,a) = prod over axes of Phi((e_{j+1} - f(x_i,a))/sigma) - Phi((e_j - f(x_i,a))/sigma); "
          "d_a p = -(d_a f/sigma) [phi(z_{j+1}) - phi(z_j)] (otgeom.numeric.grid)")
    for k, ax in enumerate(fam.axes):
        for key in ("drift", "drift_a", "drift_aa"):
            print(f"{key}[{ax.name}] = {ex[key][k]}")
    for key in ("cost", "cost_a", "cost_aa"):
        print(f"{key} = {ex[key]}")
    print("gradQ = cost_a + sum_j d_a p(j|i,a) h(j)")
    return 0


def _derive_lq(fam, params: dict[str, Any], args) -> int:
    if args.second_order:
        raise ParameterError(f"{fam.label}: --second-order is for finite families with d = 1; the LQ Hessians "
                             "are matrix formulas (THEORY.md section 5, `otgeom report lq`)")
    from otgeom.symbolic.lq import scalar_lq

    D = scalar_lq()
    print(f"# {D.name}  (digest {D.digest}): the scalar LQ family (n = m = 1) derived from its definitions; "
          f"symbols A, B, Q_c, R, W, tau, K, Sigma, x, a")
    unused = sorted(k for k in params if k != "example")
    if unused:
        print(f"# note: the formulas are in the symbols above; the values given for {', '.join(unused)} are not "
              "substituted (otgeom eval and otgeom report evaluate them)")
    if fam.n != 1 or fam.m != 1:
        print(f"# note: {fam.label} has n = {fam.n}, m = {fam.m}; the matrix formulas are in THEORY.md section 5 "
              "and otgeom.numeric.lq")
    for key, expr in D.outputs.items():
        print(f"{key} = {expr}")
    return 0


#: ``otgeom derive``'s printer for each kind of family (``Supports.kind``; a new kind adds its printer here, beside
#: its entries in ``otgeom.families.KINDS``, ``otgeom.analysis.ANALYSES`` and ``otgeom.report.content.SECTIONS``)
DERIVE = {"finite": _derive_finite, "lq": _derive_lq, "grid": _derive_grid}


def _cmd_eval(args) -> int:
    import inspect

    from otgeom.evaluate import evaluate, grid_policy_from_json, lq_policy_from_json, policy_from_json

    fam = _family_arg(args, _parse_params(args.param))
    data = _read_json_file(args.policy, "policy file", PolicyError)
    from otgeom.families import supports

    can = supports(fam)  # the family says which policy file it reads and whether it has closed forms
    parse = {"lq": lq_policy_from_json, "grid": grid_policy_from_json, "gaussian": policy_from_json}[can.policy_format]
    policy = parse(data, fam)
    if args.symbolic and can.symbolic:
        check_symbolic_size(fam, second_order=args.hessian and fam.action_dim == 1)
    options: dict[str, Any] = {"symbolic": args.symbolic, "hessian": args.hessian}
    if "tolerance" in inspect.signature(evaluate).parameters:
        options["tolerance"] = args.tolerance
    with explain_underflow(fam):
        out = evaluate(fam, policy, **options)
    _print_json(out, args.pretty, fam.label)
    return 0


def _print_json(out: Any, pretty: bool, owner: str) -> None:
    """Print ``out`` as JSON; a NaN or infinity (float64 overflow) is NotConvergedError naming the key."""
    try:
        text = json.dumps(out, indent=2 if pretty else None, allow_nan=False)
    except ValueError:
        bad = next((k for k, v in out.items() if not _all_finite(v)), "a value") if isinstance(out, dict) else "a value"
        raise NotConvergedError(f"{owner}: {bad} is not finite in float64 (the inputs are beyond what float64 "
                                "resolves here; try smaller parameters or a policy closer to the costs' targets)")
    print(text)


def _all_finite(v: Any) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, dict):
        return all(_all_finite(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return all(_all_finite(x) for x in v)
    return True


def _cmd_check_claimed(args) -> int:
    """``otgeom check --claims FILE.py``: FILE.py (the user's own code, run as Python) defines CLAIMED."""
    from otgeom.claimed import ClaimedFormula, _entry_family, check_claimed
    from proofs_checks import claim

    claimed = _load_claimed(args.claims, args.timeout)
    name = excerpt(args.claims, 200, quote=False)
    if not isinstance(claimed, (list, tuple)) or not all(isinstance(c, ClaimedFormula) for c in claimed):
        raise ParameterError(f"{name} must define CLAIMED = [otgeom.claimed.ClaimedFormula(...), ...]")
    if not claimed:
        raise ParameterError(f"{name}: CLAIMED is empty, nothing to check")
    params = _parse_params(args.param)
    base = _family_arg(args, params) if args.family or args.file else None
    results = []
    for i, c in enumerate(claimed):
        label = f"{name}: CLAIMED[{i}] ({excerpt(c.name)})"
        try:
            suite_claim = claim(c.claim) if c.claim is not None else None
            if base is not None:
                fam = base
            elif c.family is None:
                fam = _entry_family(c, suite_claim.family_kind if suite_claim else "finite")
            else:
                fam = _make_family(c.family, dict(c.params)) if isinstance(c.family, str) else c.family
        except OtgeomError as exc:
            raise ParameterError(f"{label}: {exc}") from None
        except Exception as exc:  # the file's own objects (params not a mapping, ...)
            raise ParameterError(f"{label}: family {excerpt(c.family)} with params {excerpt(c.params)}: "
                                 f"{type(exc).__name__}: {excerpt(str(exc), 120, quote=False)}") from None
        fam_label = getattr(fam, "label", str(fam))
        default_example = base is None and c.family is None and c.claim is None
        shown = f"twin-wells = {fam_label}" if default_example else fam_label
        kind = c.kind if c.claim is None else c.claim
        try:
            with _time_limit(args.timeout):
                rec = check_claimed(c, fam, seed=args.seed).to_json()
        except _Timeout:
            rec = {"name": c.name, "kind": kind, "family": fam_label, "verdict": "inconclusive",
                   "reason": f"timed out after {args.timeout:g} s (--timeout)", "worst_error": None,
                   "identified_as": []}
        except NotConvergedError:
            raise
        except OtgeomError as exc:
            raise ParameterError(f"{label}: {exc}") from None
        except SystemExit:
            raise ParameterError(f"{label}: the formula called sys.exit") from None
        # both vocabularies in every record (a contract: extended, never renamed): the classifier's keys (name,
        # kind, worst_error, counterexample, identified_as) and the suite's (claim, error, where, details, ...);
        # for an entry tested by a claim of the suite, ``claim`` is that claim and ``kind`` repeats it
        rec = {"name": c.name, "kind": kind, "worst_error": rec.get("error"), "counterexample": rec.get("where", {}),
               "identified_as": [], **rec}
        rec.setdefault("claim", c.name)
        rec.setdefault("error", rec["worst_error"])
        if default_example:
            rec["example"] = "twin-wells"
        results.append(rec)
        if not args.json:
            if i == 0:
                print(_CLAIMED_ROW.format("claimed formula", "family", "verdict", "error", "identified as / tested by"),
                      flush=True)
            verdict = "inconclusive: timed out" if rec.get("reason", "").startswith("timed out") else rec["verdict"]
            err = "-" if rec["worst_error"] is None else number(_float(rec["worst_error"]), 3)
            last = f"{', '.join(rec['identified_as']) or 'none'} (relative error)" if c.claim is None else \
                f"claim {c.claim}; error in {rec.get('error_unit', '')}"
            print(_CLAIMED_ROW.format(rec["name"], shown, verdict, err, last), flush=True)
            reason = (rec.get("details") or {}).get("reason")
            if rec["verdict"] not in ("holds", "matches") and reason:
                print(f"  {c.name}: {excerpt(str(reason), 300, quote=False)}", flush=True)
            if rec["verdict"] in ("fails", "matches-only-at-critical-points") and rec["counterexample"]:
                print(f"  counterexample: {excerpt(json.dumps(rec['counterexample']), 300, quote=False)}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return EXIT_CLAIM_FAILS if any(r["verdict"] in ("fails", "error") for r in results) else EXIT_OK


def _load_theory(path: str, timeout: float) -> Any:
    """The ``THEORY`` of a theory file (a regular ``.py`` file, run as Python), checked to be a Theory."""
    from otgeom.theory import Theory

    theory = _load_user_module(path, timeout, "theory file").get("THEORY")
    name = excerpt(path, 200, quote=False)
    if not isinstance(theory, Theory):
        raise ParameterError(f"{name} must define THEORY = otgeom.theory.Theory(...), got {excerpt(theory)}")
    if theory.is_reference:
        raise ParameterError(f"{name}: THEORY changes nothing (no metric_weights, no formulas): nothing to compare")
    if not isinstance(theory.formulas, Mapping):
        raise ParameterError(f"{name}: THEORY.formulas must map claim names to formulas, got {excerpt(theory.formulas)}")
    return theory


#: one row of ``otgeom check --theory``
_THEORY_ROW = "{:26s} {:20s} {:15s} {:15s} {:>10s} {:>10s}  {}"


def _check_theory(pairs: list, theory: Any, args) -> int:
    """``otgeom check --theory FILE.py``: the suite under the reference and under THEORY; the claims whose verdict
    changed.  Exit 1 when a claim that holds in the reference does not hold under THEORY (or a formula raised)."""
    from otgeom.claims import Verdict
    from otgeom.suite import run_under, suite_records, theory_claims, theory_diff

    theory_claims(theory, [c for _, _, _, c in pairs])  # unknown claim names: an error before any computation
    with suite_records(pairs, args.seed, _workers(args), None) as records:
        reference = [Verdict.from_json(r) for r in records]
    changed = run_under(theory, pairs, args.seed, reference)  # only the claims the theory affects are run again
    rows = theory_diff(reference, changed)
    broke = [r for r in rows if r["reference"] == "holds" and r["changed_verdict"] != "holds"]
    errors = [r for r in rows if r["changed_verdict"] == "error"]
    if args.json:
        print(json.dumps({"theory": theory.name, "description": theory.description, "pairs": len(rows),
                          "changed": sum(r["changed"] for r in rows), "retested": sum(r["retested"] for r in rows),
                          "rows": rows}, indent=2))
    else:
        print(f"theory {theory.name}: {theory.description}" if theory.description else f"theory {theory.name}")
        diff = [r for r in rows if r["changed"]]
        if diff:
            print(_THEORY_ROW.format("claim", "family", "reference", "changed theory", "ref. error", "error", "unit"))
            for r in diff:
                e0 = "-" if r["reference_error"] is None else number(_float(r["reference_error"]), 3)
                e1 = "-" if r["changed_error"] is None else number(_float(r["changed_error"]), 3)
                print(_THEORY_ROW.format(r["claim"], r["family"], r["reference"], r["changed_verdict"], e0, e1,
                                         r["error_unit"]))
                if r["reason"] and r["changed_verdict"] not in ("holds", "fails"):
                    print(f"  {excerpt(str(r['reason']), 300, quote=False)}")
        retested = [r for r in rows if r["retested"]]
        print(f"{len(retested)} of {len(rows)} (claim, family) pairs re-tested under the theory: {len(diff)} change "
              f"verdict, {len(retested) - len(diff)} unchanged" + (f", {len(broke)} no longer hold" if broke else "")
              + f"; {len(rows) - len(retested)} not re-tested (their witnesses do not read "
              f"{', '.join(theory.changed) or 'the changed definitions'} and their formulas are the same)")
    return EXIT_CLAIM_FAILS if broke or errors else EXIT_OK


#: one row of ``otgeom check --claims`` (the worst error is the largest relative error over the test points)
_CLAIMED_ROW = "{:24s} {:32s} {:33s} {:>11s}  {}"


def _load_claimed(path: str, timeout: float) -> Any:
    """Run a claims file (a regular ``.py`` file) and return its ``CLAIMED``; errors are one line with
    file, line and column.  Loading has the same time limit as one formula."""
    return _load_user_module(path, timeout, "claims file").get("CLAIMED")


def _load_user_module(path: str, timeout: float, what: str) -> dict[str, Any]:
    """Run a user's Python file (a claims or theory file) and return its namespace; errors are one line with
    file, line and column.  Loading has the time limit ``timeout``."""
    import types

    name = excerpt(path, 200, quote=False)
    data = read_user_file(path, what, suffix=".py")
    if b"\0" in data:
        offset = data.index(b"\0")
        raise ParameterError(f"{what} {name} contains a null byte at offset {offset}: not Python source")
    try:
        code = compile(data, os.path.abspath(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ParameterError(f"{what} {name}, line {exc.lineno}, column {exc.offset}: "
                             f"{type(exc).__name__}: {exc.msg}") from None
    except ValueError as exc:  # e.g. source that cannot be decoded
        raise ParameterError(f"{what} {name}: {exc}") from None
    module = types.ModuleType("__otgeom_claims__")
    module.__file__ = code.co_filename
    sys.modules[module.__name__] = module  # for dataclasses and pickling while it runs, as runpy does
    try:
        with _time_limit(timeout):
            exec(code, module.__dict__)
    except _Timeout:
        raise ParameterError(f"{what} {name}: loading it took longer than --timeout {timeout:g} s") from None
    except (Exception, SystemExit) as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == code.co_filename]
        where = ""
        if frames:
            col = getattr(frames[-1], "colno", None)
            where = f", line {frames[-1].lineno}" + (f", column {col + 1}" if col is not None else "")
        msg = "called sys.exit" if isinstance(exc, SystemExit) else \
            f"{type(exc).__name__}: {excerpt(str(exc).splitlines()[0] if str(exc) else '', 160, quote=False)}"
        raise ParameterError(f"{what} {name}{where}: {msg}") from None
    finally:
        sys.modules.pop(module.__name__, None)
    return module.__dict__


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_Timeout` after ``seconds`` (SIGALRM; in the main thread only, else no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


#: one row of ``otgeom check`` (the header and every claim)
_CHECK_ROW = "{:26s} {:20s} {:15s} {:>10s} {:>10s}  {}"


def _cmd_check_list(args) -> int:
    """``otgeom check --list``: each claim, the kind of family it is about, the formula's signature, an example."""
    from proofs_checks import CLAIMS

    rows = [{"claim": c.name, "family_kind": c.family_kind, "section": c.section, "signature": c.signature,
             "parameters": list(c.parameters), "example": c.example, "mutants": list(c.mutants),
             "requires": list(c.requires), "tolerance": c.tolerance, "tolerance_reason": c.tolerance_reason,
             "witness": c.witness} for c in CLAIMS]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for r in rows:
        print(f"{r['claim']}  [{r['family_kind']} families; THEORY.md section {r['section']}]")
        print(f"  formula{r['signature']}")
        print(f"  example: {r['example']}")
        print(f"  mutants: {', '.join(r['mutants']) or '-'}")
    print(f"\n{len(rows)} claims.  Test your own formula for claim NAME with otgeom check --claims FILE.py, FILE.py "
          "defining CLAIMED = [otgeom.claimed.ClaimedFormula('mine', my_formula, claim='NAME', family='...')]")
    return EXIT_OK


def _cmd_check(args) -> int:
    from otgeom.families import BUILTIN_CASES

    if args.list:
        if args.claims or args.theory or args.family or args.file or args.claim or args.param or \
                args.counterexamples:
            raise ParameterError("--list prints the claims and their signatures; it takes no family, claim, file or "
                                 "theory option (only --json)")
        return _cmd_check_list(args)
    if args.claims:
        if args.workers is not None or args.scheduler is not None:
            raise ParameterError("--workers and --scheduler are for the claim suite; --claims runs the claimed "
                                 "formulas in this process (their --timeout needs it)")
        if args.theory:
            raise ParameterError("--claims and --theory are two runs: give one (a theory's formulas go in its "
                                 "THEORY.formulas)")
        if args.claim or args.counterexamples:
            raise ParameterError("--claims tests the entries of FILE.py (each names its claim with claim=); it takes "
                                 "no --claim or --counterexamples")
        if args.param and not (args.family or args.file):
            raise ParameterError("--param needs --family or --file (an entry's own parameters go in its params=)")
        return _cmd_check_claimed(args)
    if args.theory and args.scheduler is not None:
        raise ParameterError("--theory runs the changed theory in this process (its definitions are Python objects "
                             "of FILE.py); --scheduler is for the suite alone")
    theory = _load_theory(args.theory, args.timeout) if args.theory else None
    from proofs_checks import check_claim_names

    check_claim_names(args.claim)
    params = _parse_params(args.param)
    _check_parallel_options(args)
    if args.counterexamples:
        from otgeom.families import COUNTEREXAMPLES

        if args.family or params or args.file:
            raise ParameterError("--counterexamples runs the suite on the counterexample families; it takes no "
                                 "--family, --file or --param")
        specs = [(n, {}) for n in COUNTEREXAMPLES]
        fams = [_make_family(n, {}) for n, _ in specs]
    elif args.file:
        if args.family:
            raise ParameterError("give --family or --file, not both")
        if args.scheduler is not None:
            raise ParameterError("--scheduler rebuilds families by name on other machines; a family file runs here "
                                 "(--workers N forks workers that inherit it)")
        fams = [_family_arg(args, params)]
        specs = [(f"file:{os.path.abspath(args.file)}", params)]
        if not args.claim:
            check_symbolic_size(fams[0])
    elif args.family:
        cases = [(n, kw) for n, kw in BUILTIN_CASES if n == args.family] if not params else []
        specs = [(n, dict(kw)) for n, kw in cases] or [(args.family, params)]
        fams = [_make_family(n, dict(kw)) for n, kw in specs]
        if not args.claim:  # the default suite derives the closed forms
            for fam in fams:
                check_symbolic_size(fam)
    else:
        if params:
            raise ParameterError("--param needs --family or --file")
        specs = [(n, dict(kw)) for n, kw in BUILTIN_CASES]
        fams = [_make_family(n, dict(kw)) for n, kw in specs]
    from otgeom.suite import suite_pairs, suite_records

    # the suite's (family, family name, family parameters, claim) pairs in suite order
    pairs = suite_pairs([(name, kw, fam) for fam, (name, kw) in zip(fams, specs)], args.claim or None)
    if theory is not None:
        return _check_theory(pairs, theory, args)
    results = []

    with suite_records(pairs, args.seed, _workers(args), args.scheduler) as records:  # workers started first
        if not args.json:
            print(_CHECK_ROW.format("claim", "family", "verdict", "error", "tolerance", "unit of error and tolerance"),
                  flush=True)
        for r in records:
            results.append(r)
            if not args.json:
                err = "-" if r["error"] is None else number(_float(r["error"]), 3)
                print(_CHECK_ROW.format(r["claim"], r["family"], r["verdict"], err, number(r["tolerance"], 3),
                                        r["error_unit"]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        counts = {v: sum(r["verdict"] == v for r in results) for v in ("holds", "fails", "inconclusive",
                                                                        "not-applicable")}
        errors = sum(r["verdict"] == "error" for r in results)  # only a formula other than the theory's raises
        print(", ".join(f"{k}: {v}" for k, v in counts.items()) + (f", error: {errors}" if errors else ""))
        _print_why(results)
    return EXIT_CLAIM_FAILS if any(r["verdict"] in ("fails", "error") for r in results) else EXIT_OK


def _print_why(results: list[dict[str, Any]]) -> None:
    """Below the table: why a claim was inconclusive, and which failed assumption made claims not applicable
    (one line per family and certificate; the rest of the reasons are in --json)."""
    seen: dict[tuple[str, str], list[str]] = {}
    for r in results:
        d = r.get("details") or {}
        if r["verdict"] == "inconclusive":
            print(f"  inconclusive: {r['claim']} on {r['family']}: {excerpt(str(d.get('reason', '')), 300, quote=False)}")
        elif r["verdict"] == "not-applicable" and d.get("assumption"):
            cert = (d.get("certificate") or {}).get("name", "at the witness's policy")
            seen.setdefault((r["family"], f"{d['assumption']} fails ({cert})"), []).append(r["claim"])
        elif r["verdict"] == "not-applicable" and d.get("limitation"):
            seen.setdefault((r["family"], f"{d['limitation']} in the symbolic layer (a limit of otgeom, not of the "
                                          "theory; the numeric path still applies)"), []).append(r["claim"])
    for (fam, why), names in seen.items():
        print(f"  not applicable on {fam}: {why}: {len(names)} claim{'s' * (len(names) != 1)} "
              f"({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})")


def _float(x: Any) -> float:
    """A JSON error back to a float (``to_json`` writes inf and nan as strings)."""
    return float(x) if isinstance(x, str) else x


def _workers(args) -> int:
    from otgeom.sweep import default_workers

    return default_workers() if args.workers is None else args.workers


def _check_parallel_options(args) -> None:
    """``--scheduler`` must look like a Dask address (``tcp://host:port``) before anything is computed."""
    address = getattr(args, "scheduler", None)
    if address is not None and not re.fullmatch(r"(tcp|tls|ws|wss|ucx)://[\w.\-\[\]:]+(:\d{1,5})?", address):
        raise ParameterError(f"--scheduler {excerpt(address)}: expected a Dask scheduler address such as "
                             "tcp://127.0.0.1:8786")


#: one row of ``otgeom sweep`` (per claim: tasks and verdict counts, then the worst error)
_SWEEP_ROW = "{:26s} {:>6s} {:>6s} {:>6s} {:>12s} {:>14s} {:>6s}  {}"


def _cmd_sweep(args) -> int:
    from proofs_checks import CLAIMS, check_claim_names

    from otgeom.sweep import MAX_TASKS, check_box, executing, parse_box, public, sweep_table, sweep_tasks

    check_claim_names(args.claim)
    if len(set(args.claim)) != len(args.claim):
        raise ParameterError("--claim: a claim is named twice")
    if len(args.claim) * args.samples > MAX_TASKS:
        raise ParameterError(f"{len(args.claim)} claims x {args.samples} samples is more than {MAX_TASKS} tasks")
    _check_parallel_options(args)
    params = _parse_params(args.param)
    box = parse_box(args.box)
    fam = _make_family(args.family, params)
    for c in CLAIMS:
        if c.name in args.claim and not c.applies_to(fam):
            raise ParameterError(f"claim {c.name} is about {c.family_kind} families; {fam.label} is "
                                 f"{getattr(fam, 'kind', 'finite')}")
    check_box(args.family, params, box)
    tasks = sweep_tasks(args.claim, args.family, box, args.samples, seed=args.seed, params=params)
    with executing(tasks, _workers(args), args.scheduler) as it:
        records = [public(r) for r in it]
    for rec in records:
        for name, text in rec["warnings"]:
            warnings.warn(f"{name}: {text}", RuntimeWarning)
    table = sweep_table(records)
    if args.json:
        print(json.dumps({"family": args.family, "params": params,
                          "box": {k: [_fraction_text(lo), _fraction_text(hi)] for k, (lo, hi) in box.items()},
                          "samples": args.samples, "seed": args.seed, "claims": table, "tasks": records}, indent=2))
    else:
        print(f"# {args.family}: {args.samples} points from the box "
              + ", ".join(f"{k} in [{_fraction_text(lo)}, {_fraction_text(hi)}]" for k, (lo, hi) in box.items())
              + f" (seed {args.seed}); each task reruns with otgeom check --family {args.family} --param ... "
              "--claim NAME --seed SEED (otgeom sweep --json lists them)")
        print(_SWEEP_ROW.format("claim", "tasks", "holds", "fails", "inconclusive", "not-applicable", "raised",
                                "worst error (unit) at seed, point"))
        for row in table:
            worst = row["worst"]
            where = "-" if worst is None else (
                f"{number(worst['error'], 3)} ({worst['error_unit']}, {worst['verdict']}) at seed {worst['seed']}, "
                + _point_text(worst["params"]))
            print(_SWEEP_ROW.format(row["claim"], *(str(row[k]) for k in ("tasks", "holds", "fails", "inconclusive",
                                                                        "not-applicable", "raised")), where))
            if row["first_raised"] is not None:
                first = row["first_raised"]
                print(f"    first task that raised: seed {first['seed']}, {_point_text(first['params'])}: "
                      f"{excerpt(first['error'], 200, quote=False)}")
    sys.stdout.flush()
    raised = [r for r in records if r["failure"] is not None]
    if raised:
        raise _TasksRaised(raised, len(records))
    return EXIT_CLAIM_FAILS if any(row["fails"] for row in table) else EXIT_OK


class _TasksRaised(Exception):
    """Sweep tasks that raised (a bug, or a point the box check could not exclude): the exit path's internal
    error, whose traceback file holds every task's own traceback."""

    def __init__(self, raised: list, total: int):
        first = raised[0]
        task = first["task"]
        head = (f"{len(raised)} of {total} tasks raised; first: claim {task['claim']}, seed {task['seed']}, "
                f"{_point_text(task['params'])}: {first['failure']['error']}")
        body = "\n\n".join(f"task {json.dumps(r['task'])}\n{r['failure']['traceback']}" for r in raised)
        super().__init__(f"{head}\n\n{body}")


def _fraction_text(x) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _point_text(params: dict) -> str:
    return " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in params.items()) or "(defaults)"


def _cmd_report(args) -> int:
    from otgeom.report import build_report, check_output_path, render, report_format, write_report

    try:
        fmt = report_format(args.format, args.output)  # the one place that decides it: --format, else -o's extension
    except ParameterError as exc:
        raise _UsageError(str(exc)) from None
    params = _parse_params(args.param)
    if args.output is not None:
        check_output_path(args.output, fmt)  # every path it will create, before any computation
    fam = _family_arg(args, params)
    check_symbolic_size(fam, second_order=getattr(fam, "action_dim", 0) == 1)
    with explain_underflow(fam):
        comparison = None
        if args.compare:
            from otgeom.methods import compare

            comparison = compare(fam)
        rep = build_report(fam, seed=args.seed, claims=not args.no_claims, params=params, comparison=comparison)
    if args.output is not None:
        for path in write_report(rep, fmt, args.output):
            _say(f"wrote {path}")
    else:  # no figure files: md inlines its figures, tex names the command that writes them
        sys.stdout.write(render(rep, fmt))
    return 0


def _cmd_compare(args) -> int:
    import json
    import shlex

    from otgeom.methods import METHODS, compare, objective
    from otgeom.report import check_output_path, render, report_format, write_report

    fmt = None
    if args.output is not None or args.format is not None:
        try:
            fmt = report_format(args.format, args.output)
        except ParameterError as exc:
            raise _UsageError(str(exc)) from None
    if args.json and fmt is not None and args.output is None:
        raise _UsageError("--json and --format both write to standard output: give -o PATH for the report")
    methods = None
    if args.methods:
        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ParameterError(f"--methods: unknown method(s) {', '.join(unknown) or '(none given)'}; known: "
                                 f"{', '.join(METHODS)}")
    params = _parse_params(args.param)
    if args.output is not None:
        check_output_path(args.output, fmt)
    fam = _family_arg(args, params)
    from otgeom.families import supports

    if args.sigma2 is not None and supports(fam).kind != "lq":
        raise ParameterError(f"{fam.label}: --sigma2 is the fixed action variance of the lq family's policies")
    kw = {"sigma2": 1.0 if args.sigma2 is None else args.sigma2} if supports(fam).kind == "lq" else {}
    check_symbolic_size(fam, second_order=getattr(fam, "action_dim", 0) == 1)
    c = compare(objective(fam, **kw), methods=methods, max_iter=args.max_iter, fixed_step=args.step)
    if args.json:
        out = {"otgeom_version": __import__("otgeom").__version__, "params": params, **c.to_json()}
        if kw:
            out["sigma2"] = kw["sigma2"]
        print(json.dumps(out, indent=2, allow_nan=False, default=lambda x: None))
    if fmt is not None:
        from otgeom.report.compare import compare_report
        from otgeom.report.content import _cli_family, _param_args

        cmd = (f"otgeom compare {_cli_family(fam)}{_param_args(params)}"
               + (f" --methods {shlex.quote(args.methods)}" if args.methods else "")
               + (f" --sigma2 {args.sigma2!r}" if args.sigma2 is not None else "")
               + (f" --max-iter {args.max_iter}" if args.max_iter != 2000 else "")
               + (f" --step {args.step!r}" if args.step is not None else "") + " --format FORMAT")
        rep = compare_report(c, cmd)
        if args.output is not None:
            for path in write_report(rep, fmt, args.output):
                _say(f"wrote {path}")
        else:
            sys.stdout.write(render(rep, fmt))
    if not args.json and fmt is None:
        from otgeom.report.compare import COMPARE_HEADER, compare_rows
        from otgeom.textfmt import number

        print(f"{c.label}: " + (f"J* = {number(c.J_star, 12)} ({c.reference})" if c.J_star is not None else
                                 f"no J* ({c.reference})"))
        table = compare_rows(c)
        rows = [COMPARE_HEADER[:-1]] + [r[:-1] for r in table]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
        for r, text in zip(c.results, table):
            if text[-1] != "-":
                print(f"  {r.method}: {text[-1]}")
    return 0


FILE_HELP = ("a family file (TOML; README, \"Your own families\") instead of a built-in family; it is read without "
             "running any code, and --param overrides its defaults")

_PARAM_HELP = ("a parameter of the family: NAME=VALUE with VALUE in JSON (q=[0.3,0.6], n=3; exact rationals as "
               "strings, 'q=[\"9/10\",\"1/3\"]'; lq: example=dean, A=[[1.2]]); repeatable; otgeom families lists "
               "every parameter")


def build_parser() -> argparse.ArgumentParser:
    from otgeom.families import family_names

    family_help = f"one of {', '.join(family_names())} (otgeom families describes them)"
    epilog = (f"families: {', '.join(family_names())} (otgeom families lists their parameters)\n\n"
              "exit status:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_STATUSES))
    p = _Parser(prog="otgeom", description="Derive, evaluate and verify the Wasserstein theory of RL.",
                epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("families", help="list the families and their parameters").set_defaults(func=_cmd_families)
    d = sub.add_parser("derive", help="print the derived formulas of a family")
    d.add_argument("family", type=_family_name, nargs="?", help=family_help)
    d.add_argument("--file", metavar="F.toml", help=FILE_HELP)
    d.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_PARAM_HELP)
    d.add_argument("--full", action="store_true", help="print long definitions in full")
    d.add_argument("--width", type=_int_in(0, 10**9), default=400, help="truncate definitions longer than this")
    d.add_argument("--second-order", action="store_true",
                   help="d = 1: G, Christoffel symbols, the geodesic equation, the coordinate and submanifold "
                        "Hessians, drho, dh, dQ along a velocity")
    d.set_defaults(func=_cmd_derive)
    e = sub.add_parser("eval", help="JSON of rho, J, h and the gradient at one Gaussian policy")
    e.add_argument("family", type=_family_name, nargs="?", help=family_help)
    e.add_argument("--file", metavar="F.toml", help=FILE_HELP)
    e.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_PARAM_HELP)
    e.add_argument("--policy", required=True, metavar="POLICY.json", help="a regular file of at most 1 MiB")
    e.add_argument("--symbolic", action="store_true", help="evaluate the closed forms instead of the definitions")
    e.add_argument("--hessian", action="store_true",
                   help="add hessian_coords, metric and hessian_riemannian (d = 1, theta = (m_0, sigma_0, ...))")
    e.add_argument("--tolerance", type=_float_in(0.0, 1.0), default=DEFAULT_TOLERANCE, metavar="FLOAT",
                   help="target accuracy: every numeric output's error bound must be <= tolerance * max(1, |value|); "
                        f"else exit {EXIT_NOT_CONVERGED} (default {DEFAULT_TOLERANCE:g})")
    e.add_argument("--pretty", action="store_true", help="indent the JSON (two spaces)")
    e.set_defaults(func=_cmd_eval)
    c = sub.add_parser("check", help="run the claim suite")
    c.add_argument("--family", type=_family_name, metavar="FAMILY",
                   help=family_help + "; default: every built-in case")
    c.add_argument("--file", metavar="F.toml", help=FILE_HELP)
    c.add_argument("--counterexamples", action="store_true",
                   help="run the suite on the counterexample families (reducible, transient, periodic, kinked, "
                        "relay: each breaks one assumption); the claims that need it say not-applicable, and why")
    c.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_PARAM_HELP)
    c.add_argument("--claim", action="append", default=[], metavar="NAME",
                   help="run only this claim (repeatable); the names are in the README's claim table and in "
                        "otgeom check --json")
    c.add_argument("--json", action="store_true",
                   help="print a JSON list of records (claim, family, verdict, error, error_unit, tolerance, ...) "
                        "instead of the table")
    c.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=0, metavar="N",
                   help="seed of the random test points (default 0); the same seed gives the same verdicts")
    c.add_argument("--claims", metavar="FILE.py",
                   help="check the claimed formulas defined in FILE.py (its CLAIMED list) instead of the suite: "
                        "ClaimedFormula(name, formula, claim=NAME) is tested by the suite's claim NAME, called as "
                        "its signature says (see --list); without claim=, a Hessian or gradient is classified")
    c.add_argument("--theory", metavar="FILE.py",
                   help="run the suite under the changed theory FILE.py defines (THEORY = otgeom.theory.Theory(...): "
                        "the metric's weights, formulas by claim) and under the reference, and print the claims whose "
                        "verdict changed; exit 1 when a claim that holds no longer does")
    c.add_argument("--list", action="store_true",
                   help="print every claim with the signature of the formula it tests and an example (with --json: "
                        "a JSON list), and exit")
    c.add_argument("--timeout", type=_float_in(0.0, 1e6), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="with --claims: time limit per formula (and for loading FILE.py; with --theory for loading it), "
                        "after which the formula "
                        f"is 'inconclusive: timed out' and the next one runs (default {DEFAULT_TIMEOUT:g})")
    c.add_argument("--workers", type=_int_in(1, 1024), default=None, metavar="N",
                   help="run the suite's claims in N processes (default: one per core; 1: in this process); "
                        "the output is the same")
    c.add_argument("--scheduler", metavar="ADDR",
                   help="run the claims on an existing Dask scheduler (tcp://host:port; its workers need otgeom)")
    c.set_defaults(func=_cmd_check)
    w = sub.add_parser("sweep", help="run claims at parameter points drawn from a box, in parallel (Dask)")
    w.add_argument("family", type=_family_name, help=family_help)
    w.add_argument("--claim", action="append", required=True, metavar="NAME", help="a claim to run (repeatable)")
    w.add_argument("--box", action="append", required=True, metavar="NAME=LO:HI",
                   help="draw parameter NAME uniformly from [LO, HI] (every element of a vector; NAME[i]=LO:HI: one "
                        "element); values are exact rationals k/10^6; repeatable")
    w.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_PARAM_HELP + " (held fixed)")
    w.add_argument("--samples", type=_int_in(1, 10**6), default=100, metavar="K",
                   help="parameter points (default 100); every claim runs at every point")
    w.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=0, metavar="S",
                   help="seed of the points and of the tasks' seeds (numpy SeedSequence(S).spawn; default 0)")
    w.add_argument("--workers", type=_int_in(1, 1024), default=None, metavar="N",
                   help="worker processes of the local Dask cluster (default: one per core; 1: in this process)")
    w.add_argument("--scheduler", metavar="ADDR",
                   help="an existing Dask scheduler (tcp://host:port) instead of a local cluster")
    w.add_argument("--json", action="store_true", help="print the per-claim table and every task as JSON")
    w.set_defaults(func=_cmd_sweep)
    r = sub.add_parser("report", help="write the formula report of a family (md, tex or html)")
    r.add_argument("family", type=_family_name, nargs="?", help=family_help)
    r.add_argument("--file", metavar="F.toml", help=FILE_HELP)
    r.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_PARAM_HELP)
    r.add_argument("--format", choices=("md", "tex", "html"), default=None,
                   help="md (Markdown with $...$ math), tex (standalone LaTeX for pdflatex) or html (one page, MathML, "
                        "inline SVG); default: the extension of -o (.md, .tex, .html), else md. A --format that "
                        "contradicts the extension is a usage error")
    r.add_argument("-o", "--output", metavar="PATH",
                   help="write here, atomically (md and tex figures go to <stem>-figures/ beside it); a regular "
                        "file or a new name, never a symbolic link, device, FIFO or socket; default: standard output "
                        "(md figures inline as data: URIs; tex says which command writes them)")
    r.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=0, metavar="N", help="seed of the claim suite (default 0)")
    r.add_argument("--no-claims", action="store_true", help="leave out the claim table (faster)")
    r.add_argument("--compare", action="store_true",
                   help="add the section 'Methods compared' (otgeom compare's table and plot; finite, lq and grid "
                        "families with closed forms)")
    r.set_defaults(func=_cmd_report)
    m = sub.add_parser("compare", help="policy-gradient methods on one family: iterations, time, predicted and "
                                        "measured rates (Euclidean, Fisher, Wasserstein, WPO, Newton, Hewer)")
    m.add_argument("family", type=_family_name, nargs="?", help=family_help)
    m.add_argument("--file", metavar="F.toml", help=FILE_HELP)
    m.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_PARAM_HELP)
    m.add_argument("--methods", metavar="M1,M2", help="comma-separated, of euclidean, fisher, wasserstein, wpo, newton, "
                                                      "hewer (lq only); default: every method that applies")
    m.add_argument("--max-iter", type=_int_in(1, 10**6), default=2000, metavar="N",
                   help="iterations per method at most (default 2000)")
    m.add_argument("--sigma2", type=_float_in(0.0, 1e6), default=None, metavar="S",
                   help="lq: the fixed action variance, Sigma = S I (default 1; then Fisher and Wasserstein coincide)")
    m.add_argument("--step", type=_float_in(0.0, 1e6), default=None, metavar="ETA",
                   help="a fixed step for the first-order methods instead of Armijo backtracking (Newton and Hewer "
                        "keep theirs); a step that leaves the policy family or blows J up stops the method, saying so")
    m.add_argument("--json", action="store_true", help="print the comparison as JSON")
    m.add_argument("--format", choices=("md", "tex", "html"), default=None,
                   help="write the comparison as a report section (md, tex or html; default: -o's extension)")
    m.add_argument("-o", "--output", metavar="PATH", help="write the report here (with --format, or by extension)")
    m.set_defaults(func=_cmd_compare)
    return p


# --------------------------------------------------------------------------- the one exit path
class _CheckedStdout:
    """Standard output whose write and flush errors become :class:`_StdoutError` (exit 74), not tracebacks."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        if self._stream is None:  # fd 1 was closed when Python started (`otgeom ... >&-`)
            raise _StdoutError(OSError(errno.EBADF, "it is closed"), None)
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _StdoutError(exc, self._stream) from None

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            raise _StdoutError(exc, self._stream) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _say(line: str) -> None:
    """One line on stderr; a broken stderr is ignored (there is nowhere left to tell)."""
    if sys.stderr is None:  # fd 2 was closed when Python started
        return
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _discard_stdout(stream: Any) -> None:
    """After a failed write to the real stdout, point fd 1 at /dev/null so the exit flush cannot fail again."""
    if stream is not sys.__stdout__:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)


def _internal_error(exc: BaseException, argv: Sequence[str]) -> str:
    """Write the traceback to a new file in the temporary directory; return its path (or why it failed)."""
    from otgeom import __version__

    try:
        fd, path = tempfile.mkstemp(prefix="otgeom-internal-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"otgeom {__version__}, Python {sys.version.split()[0]}\n")
            fh.write("command: otgeom " + " ".join(excerpt(a, 200) for a in argv) + "\n\n")
            fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return path
    except OSError as err:
        return f"(none: it could not be written: {err.strerror})"


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while main runs (main thread, default handler only); restored after.

    SIGINT and SIGTERM are unblocked for the run (a signal mask is inherited through exec: a parent that had them
    blocked would make Ctrl-C wait forever), and the mask is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            yield
            return

        def on_term(signum, frame):
            raise Terminated()

        signal.signal(signal.SIGTERM, on_term)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _run(argv: list[str], seen: dict[str, Any]) -> int:
    for i, arg in enumerate(argv):
        if len(arg) > MAX_ARG_CHARS:
            raise _UsageError(f"argument {i + 1} ({excerpt(arg)}) is longer than {MAX_ARG_CHARS} characters")
    args = build_parser().parse_args(argv)
    seen["args"] = args
    status = args.func(args)
    sys.stdout.flush()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (:data:`EXIT_STATUSES`).  Never raises, never prints a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    seen: dict[str, Any] = {}
    stdout = sys.stdout
    sys.stdout = _CheckedStdout(stdout)
    caught: list[warnings.WarningMessage] = []
    try:
        with _signals(), warnings.catch_warnings(record=True) as caught:  # the filters in force stay as they are
            try:
                return _run(argv, seen)
            finally:
                _summarise_warnings(caught)
    except _UsageError as exc:
        _say(f"otgeom: error: {exc}")
        return EXIT_BAD_INPUT
    except NotConvergedError as exc:
        if exc.result is not None:
            args = seen.get("args")
            try:
                print(json.dumps(exc.result, indent=2 if getattr(args, "pretty", False) else None), flush=True)
            except _StdoutError as err:
                _discard_stdout(err.stream)
        _say(f"otgeom: not converged: {exc.reason}")
        return EXIT_NOT_CONVERGED
    except OtgeomError as exc:
        _say(f"otgeom: error: {_one_line(str(exc))}")
        return EXIT_BAD_INPUT
    except _StdoutError as exc:
        _discard_stdout(exc.stream)
        _say(f"otgeom: error: cannot write to standard output: {exc}")
        return EXIT_OUTPUT
    except KeyboardInterrupt:
        _say("otgeom: interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        _say("otgeom: terminated")
        return EXIT_TERMINATED
    except SystemExit as exc:  # argparse's --help: 0; nothing else exits this way
        try:
            sys.stdout.flush()
        except _StdoutError as err:
            _discard_stdout(err.stream)
            _say(f"otgeom: error: cannot write to standard output: {err}")
            return EXIT_OUTPUT
        if exc.code in (None, 0):
            return EXIT_OK
        _say(f"otgeom: error: exit with status {excerpt(exc.code)} requested")
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: one line here, the traceback in a file
        path = _internal_error(exc, argv)
        _say(f"otgeom: internal error: {type(exc).__name__}: {excerpt(_one_line(str(exc)), 120, quote=False)}, "
             f"please report; traceback in {path}")
        return EXIT_INTERNAL
    finally:
        sys.stdout = stdout


def _one_line(text: str) -> str:
    return " ".join(text.split("\n")).strip()


def _summarise_warnings(caught: list) -> None:
    """Numeric warnings (overflow, invalid value, ...) as one line on stderr instead of two lines each."""
    from otgeom.errors import GridWarning

    if caught:
        # otgeom's own warnings are written to be read whole (the state, the numbers, the advice)
        ours = [w for w in caught if issubclass(w.category, GridWarning)]
        first = ours[0] if ours else caught[0]
        more = f" and {len(caught) - 1} more" if len(caught) > 1 else ""
        text = _one_line(str(first.message))
        _say(f"otgeom: warning: {first.category.__name__}: {text if ours else excerpt(text, 120, quote=False)}"
             f"{more}")


def console_main() -> None:
    """The ``otgeom`` command (and ``python -m otgeom.cli``): :func:`main`, then exit with its status.

    After an interruption (130, 143) the interpreter's shutdown is skipped (``os._exit`` after flushing): objects
    left half-built by the interrupted import or computation (pyparsing's, for one) would otherwise print
    "Exception ignored" tracebacks as they are collected, after the one line that is all the user should see.
    """
    status = main()
    if status in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    console_main()
