"""``otgeom`` command line: families, derive, eval, check, report.

The CLI only parses, calls the API and serialises results.  Exit status: 0 all
good, 1 a claim fails, 2 bad usage or bad input (one line on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

import sympy as sp

from otgeom.errors import OtgeomError, ParameterError

__all__ = ["main"]


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ParameterError(f"--param {item!r}: expected NAME=VALUE (VALUE is JSON, e.g. q=[0.3,0.6])")
        name, raw = item.split("=", 1)
        if name.strip() == "example" and not raw.strip().startswith('"'):
            out["example"] = raw.strip()  # a bare example name (lq): example=dean
            continue
        try:
            out[name.strip()] = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"--param {name}: value {raw!r} is not JSON ({exc.msg})") from None
    return out


def _cmd_families(args) -> int:
    from otgeom.families import FAMILIES
    from otgeom.families.lq import DESCRIPTION, EXAMPLES, PARAMETER_DOCS

    for name, spec in sorted(FAMILIES.items()):
        print(f"{name}: {spec.description}")
        for st in spec.structural:
            print(f"    {st.name} (integer {st.low}..{st.high}, default {st.default}): {st.doc}")
        structure = {st.name: st.default for st in spec.structural}
        for p in spec.parameters(structure):
            print(f"    {p.name} [{' x '.join(p.shape)}] {p.domain.describe}: {p.doc}")
    print(f"lq: {DESCRIPTION}")
    for name, doc in PARAMETER_DOCS.items():
        print(f"    {name}: {doc}")
    print(f"    examples: {', '.join(EXAMPLES)} (default: scalar)")
    return 0


def _cmd_derive(args) -> int:
    from otgeom.families import family
    from otgeom.symbolic.geometry import first_order

    fam = family(args.family, **_parse_params(args.param))
    if getattr(fam, "kind", "finite") == "lq":
        if args.second_order:
            raise ParameterError(f"{fam.label}: --second-order is for finite families with d = 1; the LQ Hessians "
                                 "are matrix formulas (THEORY.md section 5, `otgeom report lq`)")
        return _derive_lq(fam)
    if args.second_order:
        from otgeom.symbolic.second_order import second_order

        D = second_order(fam)  # ExpressionError (exit 2, one line) when d != 1
    else:
        D = first_order(fam)
    print(f"# {D.name}  (digest {D.digest}; {len(D.definitions)} named definitions)")
    inputs = f"# inputs: parameters {', '.join(map(str, fam.parameter_symbols()))}"
    if args.second_order:
        inputs += f"; coordinates and velocities {', '.join(map(str, D.inputs[len(fam.parameter_symbols()):]))}"
    print(inputs)
    for s, e in D.definitions:
        text = str(e)
        if len(text) > args.width and not args.full:
            text = f"<{len(sp.Add.make_args(e))} terms, {sp.count_ops(e)} operations; --full prints it>"
        print(f"{s} = {text}")
    if not args.second_order:
        for key in ("J", "rho", "h", "Q", "gradQ", "flow"):
            print(f"{key} = {D.outputs[key]}")
        return 0
    for key in ("J", "rho", "metric", "christoffel", "geodesic", "hessian_coords", "hessian_riemannian", "drho",
                "dh", "dJ_v", "dQ"):
        for k, e in D.items(key):
            # leave out zero Christoffel symbols and metric entries, and outputs that are a definition's name
            if (e != 0 or key not in ("christoffel", "metric")) and str(e) != k:
                print(f"{k} = {e}")
    return 0


def _derive_lq(fam) -> int:
    from otgeom.symbolic.lq import scalar_lq

    D = scalar_lq()
    print(f"# {D.name}  (digest {D.digest}): the scalar LQ family (n = m = 1) derived from its definitions; "
          f"symbols A, B, Q_c, R, W, tau, K, Sigma, x, a")
    if fam.n != 1 or fam.m != 1:
        print(f"# note: {fam.label} has n = {fam.n}, m = {fam.m}; the matrix formulas are in THEORY.md section 5 "
              "and otgeom.numeric.lq")
    for key, expr in D.outputs.items():
        print(f"{key} = {expr}")
    return 0


def _cmd_eval(args) -> int:
    from otgeom.evaluate import evaluate, policy_from_json
    from otgeom.families import family

    fam = family(args.family, **_parse_params(args.param))
    try:
        with open(args.policy) as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ParameterError(f"cannot read policy file {args.policy}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ParameterError(f"policy file {args.policy} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if getattr(fam, "kind", "finite") == "lq":
        from otgeom.evaluate import lq_policy_from_json

        policy = lq_policy_from_json(data, fam)
    else:
        policy = policy_from_json(data, fam)
    out = evaluate(fam, policy, symbolic=args.symbolic, hessian=args.hessian)
    print(json.dumps(out, indent=2 if args.pretty else None))
    return 0


def _cmd_check_claimed(args) -> int:
    """``otgeom check --claims FILE.py``: FILE.py (the user's own code, run as Python) defines CLAIMED."""
    import runpy

    from otgeom.claimed import ClaimedFormula, check_formula
    from otgeom.examples import example
    from otgeom.families import family

    try:
        ns = runpy.run_path(args.claims)
    except OSError as exc:
        raise ParameterError(f"cannot read claims file {args.claims}: {exc.strerror}") from None
    claimed = ns.get("CLAIMED")
    if not isinstance(claimed, (list, tuple)) or not all(isinstance(c, ClaimedFormula) for c in claimed):
        raise ParameterError(f"{args.claims} must define CLAIMED = [otgeom.claimed.ClaimedFormula(...), ...]")
    params = _parse_params(args.param)
    results = []
    for c in claimed:
        if args.family:
            fam = family(args.family, **params)
        elif c.family is None:
            fam = example("twin-wells").family
        else:
            fam = family(c.family, **dict(c.params)) if isinstance(c.family, str) else c.family
        r = check_formula(fam, c.formula, c.kind, seed=args.seed, name=c.name)
        results.append(r)
        if not args.json:
            print(f"{r.name:24s} {r.family:22s} {r.verdict:33s} {r.worst_error:10.3g}  "
                  f"identified as: {', '.join(r.identified_as) or 'none'}", flush=True)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    return 1 if any(r.verdict == "fails" for r in results) else 0


def _cmd_check(args) -> int:
    from otgeom.families import BUILTIN_CASES, family
    from proofs_checks import CLAIMS, claim

    if args.claims:
        return _cmd_check_claimed(args)

    params = _parse_params(args.param)
    if args.family:
        cases = [(n, kw) for n, kw in BUILTIN_CASES if n == args.family] if not params else []
        fams = [family(n, **kw) for n, kw in cases] or [family(args.family, **params)]
    else:
        if params:
            raise ParameterError("--param needs --family")
        fams = [family(n, **kw) for n, kw in BUILTIN_CASES]
    claims = [claim(c) for c in args.claim] if args.claim else CLAIMS
    results = []
    for fam in fams:
        for c in claims:
            if not c.applies_to(fam) and not args.claim:
                continue  # the default suite pairs claims with families of their kind
            r = c.run(fam, seed=args.seed)
            results.append(r)
            if not args.json:
                err = "-" if r.error is None else f"{r.error:.3g}"
                print(f"{r.claim:26s} {r.family:20s} {r.verdict:15s} {err:>10s}  tol {r.tolerance:.3g}", flush=True)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        counts = {v: sum(r.verdict == v for r in results) for v in ("holds", "fails", "inconclusive", "not-applicable")}
        print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 1 if any(r.verdict == "fails" for r in results) else 0


def _cmd_report(args) -> int:
    from otgeom.families import family
    from otgeom.report import build_report, check_output_path, render, write_report

    params = _parse_params(args.param)
    if args.output:
        check_output_path(args.output)  # fail before any computation
    fam = family(args.family, **params)
    rep = build_report(fam, seed=args.seed, claims=not args.no_claims, params=params)
    if args.output:
        for path in write_report(rep, args.format, args.output):
            print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(render(rep, args.format))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otgeom", description="Derive, evaluate and verify the Wasserstein theory of RL.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("families", help="list the families and their parameters").set_defaults(func=_cmd_families)
    d = sub.add_parser("derive", help="print the derived formulas of a family")
    d.add_argument("family")
    d.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    d.add_argument("--full", action="store_true", help="print long definitions in full")
    d.add_argument("--width", type=int, default=400, help="truncate definitions longer than this")
    d.add_argument("--second-order", action="store_true",
                   help="d = 1: G, Christoffel symbols, the geodesic equation, the coordinate and submanifold "
                        "Hessians, drho, dh, dQ along a velocity")
    d.set_defaults(func=_cmd_derive)
    e = sub.add_parser("eval", help="JSON of rho, J, h and the gradient at one Gaussian policy")
    e.add_argument("family")
    e.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    e.add_argument("--policy", required=True, metavar="POLICY.json")
    e.add_argument("--symbolic", action="store_true", help="evaluate the closed forms instead of the definitions")
    e.add_argument("--hessian", action="store_true",
                   help="add hessian_coords, metric and hessian_riemannian (d = 1, theta = (m_0, sigma_0, ...))")
    e.add_argument("--pretty", action="store_true")
    e.set_defaults(func=_cmd_eval)
    c = sub.add_parser("check", help="run the claim suite")
    c.add_argument("--family")
    c.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    c.add_argument("--claim", action="append", default=[])
    c.add_argument("--json", action="store_true")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--claims", metavar="FILE.py",
                   help="check the claimed formulas defined in FILE.py (its CLAIMED list) instead of the suite")
    c.set_defaults(func=_cmd_check)
    r = sub.add_parser("report", help="write the formula report of a family (md, tex or html)")
    r.add_argument("family")
    r.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    r.add_argument("--format", choices=("md", "tex", "html"), default="md")
    r.add_argument("-o", "--output", metavar="PATH",
                   help="write here, atomically (md and tex figures go to <stem>-figures/ beside it); "
                        "default: standard output")
    r.add_argument("--seed", type=int, default=0, help="seed of the claim suite")
    r.add_argument("--no-claims", action="store_true", help="leave out the claim table (faster)")
    r.set_defaults(func=_cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OtgeomError as exc:
        print(f"otgeom: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `otgeom derive ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
