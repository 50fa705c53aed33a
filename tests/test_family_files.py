"""Issue 19: family files (TOML) read without running code; every bad file gets its own error class and message."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings, strategies as st

import otgeom
from otgeom.errors import (FamilyFileError, FamilyFileSchemaError, FamilyFileSemanticError, FamilyFileSyntaxError)
from otgeom.expressions import Scope, UnsafeExpressionError, parse_expression
from otgeom.familyfile import load_family, load_family_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "families"
BASE = (EXAMPLES / "switch2.toml").read_text()


def _replace(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


KERNEL = 'rows = [["phi", "1 - phi"],\n        ["1 - phi", "phi"]]'
SENTINEL = "/tmp/otgeom-family-file-injection-sentinel"

#: (id, file text, error class, the key part of the message)
BAD: list[tuple[str, str, type, str]] = [
    # malformed TOML
    ("unterminated-string", _replace('name = "switch2-file"', 'name = "switch2-file'), FamilyFileSyntaxError,
     "malformed TOML"),
    ("missing-value", _replace("states = 2", "states = "), FamilyFileSyntaxError, "malformed TOML"),
    ("duplicate-key", _replace("states = 2", "states = 2\nstates = 3"), FamilyFileSyntaxError, "malformed TOML"),
    ("unclosed-table", _replace("[cost]", "[cost"), FamilyFileSyntaxError, "malformed TOML"),
    ("null-character", BASE + "\0", FamilyFileSyntaxError, "null character"),
    # schema: unknown keys, missing sections, wrong types
    ("unknown-top-key", _replace("states = 2", "states = 2\nfoo = 1"), FamilyFileSchemaError,
     "unknown key 'foo'; allowed: name"),
    ("unknown-key-in-a-table", BASE + "\nfoo = 1\n", FamilyFileSchemaError, "unknown key 'foo' in [kernel]"),
    ("unknown-parameter-key", _replace('domain = "open-unit"', 'domian = "open-unit"'), FamilyFileSchemaError,
     "unknown key 'domian' in [parameters.q]"),
    ("unknown-cost-key", _replace('each = "(a - t[s])**2 + e[s]"', 'every = "(a - t[s])**2 + e[s]"'),
     FamilyFileSchemaError, "unknown key 'every' in [cost]"),
    ("missing-name", _replace('name = "switch2-file"\n', ""), FamilyFileSchemaError, "missing section or key 'name'"),
    ("missing-states", _replace("states = 2\n", ""), FamilyFileSchemaError, "missing section or key 'states'"),
    ("missing-cost", _replace('[cost]\neach = "(a - t[s])**2 + e[s]"\n', ""), FamilyFileSchemaError,
     "missing section [cost]"),
    ("missing-kernel", _replace("[kernel]\n" + KERNEL + "\n", ""), FamilyFileSchemaError,
     "missing section [kernel]"),
    ("cost-both-forms", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "a**2"\nstates = ["a", "a"]'),
     FamilyFileSchemaError, "[cost] needs exactly one of each, states, given each, states"),
    ("kernel-empty", _replace(KERNEL, ""), FamilyFileSchemaError, "[kernel] needs exactly one of each, rows"),
    ("bad-name", _replace('name = "switch2-file"', 'name = "Switch 2!"'), FamilyFileSchemaError,
     "must be lower case letters"),
    ("zero-states", _replace("states = 2", "states = 0"), FamilyFileSchemaError, "0 states; a family file has 1..12"),
    ("too-many-states", _replace("states = 2", "states = 13"), FamilyFileSchemaError, "13 states"),
    ("states-a-string", _replace("states = 2", 'states = "two"'), FamilyFileSchemaError,
     "states must be the number of states or a list of their labels"),
    ("duplicate-labels", _replace("states = 2", 'states = ["x", "x"]'), FamilyFileSchemaError, "distinct labels"),
    ("action-dim-4", _replace("action_dim = 1", "action_dim = 4"), FamilyFileSchemaError,
     "action_dim must be an integer in 1..3"),
    ("unknown-policy", BASE.replace("action_dim = 1", 'action_dim = 1\npolicy = "softmax"'), FamilyFileSchemaError,
     'only "gaussian" is supported'),
    ("reserved-parameter", _replace("[parameters.e]", "[parameters.exp]"), FamilyFileSchemaError,
     "'exp' is reserved"),
    ("derivation-name-parameter", _replace("[parameters.e]", "[parameters.rho]"), FamilyFileSchemaError,
     "'rho' is reserved"),
    ("underscore-parameter", _replace("[parameters.e]", "[parameters.e_1]"), FamilyFileSchemaError,
     "must be letters and digits"),
    ("unknown-domain", _replace('domain = "open-unit"', 'domain = "probability"'), FamilyFileSchemaError,
     "unknown domain 'probability'"),
    ("interval-without-bounds", _replace('domain = "open-unit"', 'domain = "interval"'), FamilyFileSchemaError,
     'domain "interval" needs interval = [low, high]'),
    ("empty-interval", _replace('domain = "open-unit"', 'domain = "interval"\ninterval = [1, "1/2"]'),
     FamilyFileSchemaError, "is empty"),
    ("missing-default", _replace('default = ["3/5", "4/5"]\n', ""), FamilyFileSchemaError,
     "missing key 'parameters.q.default'"),
    ("bad-shape-axis", _replace('shape = ["n"]\ndomain = "open-unit"', 'shape = ["m"]\ndomain = "open-unit"'),
     FamilyFileSchemaError, "shape must be a list of at most 3 axes"),
    ("kernel-rows-count", _replace(KERNEL, 'rows = [["phi", "1 - phi"]]'), FamilyFileSchemaError,
     "kernel.rows must be 2 rows of 2 expression strings, got a list of 1"),
    ("kernel-row-length", _replace(KERNEL, 'rows = [["phi", "1 - phi"], ["1"]]'), FamilyFileSchemaError,
     "kernel.rows[1] must be 2 expression strings"),
    ("cost-states-length", _replace('each = "(a - t[s])**2 + e[s]"', 'states = ["a**2"]'), FamilyFileSchemaError,
     "cost.states must be 2 expression strings, one per state"),
    ("definition-clash", _replace('phi = "q[s]', 'q = "q[s]'), FamilyFileSchemaError,
     "'q' is reserved or already used"),
    ("expression-not-string", _replace('each = "(a - t[s])**2 + e[s]"', "each = 3"), FamilyFileSchemaError,
     "cost.each must be an expression string"),
    # expressions: code injection and everything outside the whitelist
    ("import-call", _replace('each = "(a - t[s])**2 + e[s]"',
                             f"each = \"__import__('os').system('touch {SENTINEL}')\""),
     UnsafeExpressionError, "attribute access (x.y) is not allowed"),
    ("plain-import", _replace('each = "(a - t[s])**2 + e[s]"', "each = \"__import__('os')\""),
     UnsafeExpressionError, "call of '__import__': only Abs"),
    ("attribute-chain", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "a.__class__.__mro__[1]"'),
     UnsafeExpressionError, "attribute access (x.y) is not allowed"),
    ("lambda", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "(lambda: 1)()"'), UnsafeExpressionError,
     "lambda is not allowed"),
    ("comprehension", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "[x for x in (1, 2)]"'),
     UnsafeExpressionError, "a comprehension is not allowed"),
    ("huge-power", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "10**10**10"'), UnsafeExpressionError,
     "numeric exponents must be rational with |exponent| <= 64"),
    ("open-call", _replace('each = "(a - t[s])**2 + e[s]"', "each = \"open('/etc/passwd')\""),
     UnsafeExpressionError, "call of 'open'"),
    ("string-constant", _replace('each = "(a - t[s])**2 + e[s]"', "each = \"'abc'\""), UnsafeExpressionError,
     "is not a number"),
    ("conditional", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "a if s else 1"'), UnsafeExpressionError,
     "a conditional expression"),
    ("comparison", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "a < 1"'), UnsafeExpressionError,
     "a comparison is not allowed"),
    ("keyword-argument", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "exp(x=1)"'), UnsafeExpressionError,
     "keyword arguments"),
    ("too-long", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "' + "+".join(["a"] * 2100) + '"'),
     UnsafeExpressionError, "at most 4000 are accepted"),
    ("too-deep", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "' + "(" * 60 + "a" + ")" * 60 + '"'),
     UnsafeExpressionError, "nested deeper than 40"),
    ("undeclared-symbol", _replace('phi = "q[s] * exp(-k[s] * (a - b[s])**2)"',
                                   'phi = "qq[s] * exp(-k[s] * (a - b[s])**2)"'),
     UnsafeExpressionError, "undeclared symbol 'qq' cannot be indexed"),
    ("undeclared-name", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "(x - t[s])**2"'), UnsafeExpressionError,
     "undeclared symbol 'x'"),
    ("index-out-of-range", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "(a - t[2])**2"'),
     UnsafeExpressionError, "index 2 of t (axis 0) is out of range 0..1"),
    ("wrong-index-count", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "(a - t[s][0])**2"'),
     UnsafeExpressionError, "t has shape [2]: it takes 1 index, given 2"),
    ("unindexed-array", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "(a - t)**2"'), UnsafeExpressionError,
     "t has shape [2]: index it"),
    ("wrong-arity", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "exp(a, 2)"'), UnsafeExpressionError,
     "exp takes 1 argument, given 2"),
    ("division-by-zero", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "a / 0"'), UnsafeExpressionError,
     "division by zero"),
    ("overflowing-constant", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "exp(1000) * a"'),
     UnsafeExpressionError, "not a finite real number within float64's range"),
    ("underflowing-literal", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "1e-400 * a"'),
     UnsafeExpressionError, "below the supported magnitude"),
    ("syntax-error", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "(a - t[s]"'), UnsafeExpressionError,
     "not an expression"),
    ("statement", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "import os"'), UnsafeExpressionError,
     "not an expression"),
    # semantics: not an MDP, defaults outside their domains
    ("row-not-summing", _replace(KERNEL, 'rows = [["phi", "1 - phi"],\n        ["phi", "phi"]]'),
     FamilyFileSemanticError, "kernel row of state 1 does not sum to 1"),
    ("negative-probability", _replace(KERNEL, 'rows = [["phi - 1/2", "3/2 - phi"],\n        ["1 - phi", "phi"]]'),
     FamilyFileSemanticError, "p(0|0,a)"),
    ("default-outside-domain", _replace('default = ["3/5", "4/5"]', 'default = ["3/5", "3/2"]'),
     FamilyFileSemanticError, "parameter q[1] = 1.5 must be in the open interval (0, 1)"),
    ("default-wrong-shape", _replace('default = ["3/5", "4/5"]', 'default = ["3/5"]'), FamilyFileSemanticError,
     "has shape [1], expected [2]"),
    ("stochastic-default", BASE + '\n[parameters.T]\nshape = ["n", "n"]\ndomain = "row-stochastic"\n'
     'default = [["1/2", "1/3"], [0, 1]]\n', FamilyFileSemanticError, "row [0] sums to 5/6"),
    ("spd-default", BASE + '\n[parameters.V]\nshape = [2, 2]\ndomain = "spd"\ndefault = [[1, 2], [2, 1]]\n',
     FamilyFileSemanticError, "is not positive definite"),
    ("definition-blowup", _replace('phi = "q[s] * exp(-k[s] * (a - b[s])**2)"',
                                   'u0 = "a"\n' + "\n".join(f'u{k + 1} = "u{k} * (u{k} + 1)"' for k in range(30))
                                   + '\nphi = "q[s] * exp(-k[s] * (a - b[s])**2)"'),
     UnsafeExpressionError, "would expand to more than 100000 terms"),
    ("expansion-blowup", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "(a + 1)**64 * (a + 2)**64 * (a + 3)**64"'),
     UnsafeExpressionError, "would expand to more than 100000 terms"),
    ("max-of-many", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "Max(' + ", ".join(f"a*{k}" for k in range(9))
                             + ')"'), UnsafeExpressionError, "Max of 9 arguments: at most 8"),
    ("too-many-values", BASE + '\n[parameters.big]\nshape = [12, 12, 12]\ndefault = 0\n[parameters.big2]\n'
     'shape = [12, 12, 12]\ndefault = 0\n[parameters.big3]\nshape = [12, 12, 12]\ndefault = 0\n',
     FamilyFileSchemaError, "more than 4096 values in all"),
    ("cost-not-real", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "log(a)"'), FamilyFileSemanticError,
     "the cost of state 0 is not a real number at its defaults at a = -6.0"),
    ("cost-undefined", _replace('each = "(a - t[s])**2 + e[s]"', 'each = "a**2 + 1/(t[s] + 1/2)"'),
     FamilyFileSemanticError, "the cost of state 0 is undefined at its defaults"),
    ("negative-beyond-the-grid", _replace(KERNEL, 'rows = [["1/2 + a/20", "1/2 - a/20"],\n        ["1 - phi", "phi"]]'),
     FamilyFileSemanticError, "p(0|0,a) is negative at its defaults at a = -100.0"),
    ("kernel-not-real", _replace(KERNEL, 'rows = [["1/2 + sqrt(a)/100", "1/2 - sqrt(a)/100"],\n        ["1 - phi", "phi"]]'),
     FamilyFileSemanticError, "is not a real number at a = [-6.0]"),
    ("invalid-inside-domain", _replace('phi = "q[s] * exp(-k[s] * (a - b[s])**2)"',
                                       'phi = "(1 + e[0]) * q[s] * exp(-k[s] * (a - b[s])**2)"'),
     FamilyFileSemanticError, "not an MDP at parameters inside the declared domains"),
]


def test_the_corpus_is_large_enough():
    assert len(BAD) >= 40 and len({b[0] for b in BAD}) == len(BAD)


@pytest.mark.parametrize("name, text, cls, message", BAD, ids=[b[0] for b in BAD])
def test_bad_family_file(tmp_path, name, text, cls, message):
    f = tmp_path / f"{name}.toml"
    f.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(cls) as info:
        load_family(f)
    assert time.perf_counter() - t0 < 10  # rejected, not hung
    assert type(info.value) is cls and isinstance(info.value, FamilyFileError)
    assert message in str(info.value), str(info.value)
    assert f.name in str(info.value)  # the file is named


def test_injection_runs_nothing(tmp_path):
    if os.path.exists(SENTINEL):
        os.remove(SENTINEL)
    text = dict((b[0], b[1]) for b in BAD)["import-call"]
    with pytest.raises(UnsafeExpressionError):
        load_family_text(text, "inject.toml")
    assert not os.path.exists(SENTINEL)  # the injected side effect did not happen


def test_errors_point_at_the_line_and_column(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(_replace('each = "(a - t[s])**2 + e[s]"', 'each = "(a - t[s])**2 + zz"'))
    with pytest.raises(UnsafeExpressionError) as info:
        load_family(f)
    line = next(i for i, ln in enumerate(f.read_text().splitlines(), 1) if "zz" in ln)
    col = f.read_text().splitlines()[line - 1].index("zz") + 1
    assert f"line {line}, column {col} (cost.each)" in str(info.value) and "undeclared symbol 'zz'" in str(info.value)
    f.write_text(BASE.replace("states = 2", "states = 2\nstates = 3"))
    with pytest.raises(FamilyFileSyntaxError, match=r"line \d+"):
        load_family(f)


def test_not_utf8(tmp_path):
    f = tmp_path / "latin1.toml"
    f.write_bytes(BASE.encode() + b"\n# caf\xe9\n")
    with pytest.raises(FamilyFileSyntaxError, match="not UTF-8"):
        load_family(f)


# ----------------------------------------------------------------------------- the files reproduce the built-ins
@pytest.mark.parametrize("file, builtin", [("switch2.toml", ("switch2", {})),
                                           ("modulated.toml", ("modulated", {"n": 3, "d": 1}))])
def test_file_families_equal_the_builtins(file, builtin):
    """The same expressions, symbols and values: the derivations are identical (canonical sympy trees compared)."""
    from otgeom.symbolic.second_order import second_order

    a, b = load_family(EXAMPLES / file), otgeom.family(builtin[0], **builtin[1])
    assert a.cost == b.cost and a.kernel == b.kernel
    assert a.parameter_symbols() == b.parameter_symbols() and a.parameter_values() == b.parameter_values()
    Da, Db = second_order(a), second_order(b)
    assert Da.definitions == Db.definitions
    assert set(Da.outputs) == set(Db.outputs) and all(Da.outputs[k] == Db.outputs[k] for k in Da.outputs)


def _same_but_the_name(v) -> dict:
    """A verdict's record without what names the family: its label, and the built-in's structural integers
    (n, d) among the parameters of a point (the file family has none)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(y) for k, y in x.items()
                    if k != "family" and not (k in ("n", "d") and "M" in x and isinstance(y, int))}
        if isinstance(x, list):
            return [strip(y) for y in x]
        return x
    return strip(v.to_json())


def test_file_switch2_has_the_builtin_verdicts():
    """The same verdicts, errors and points on a claim of each part of the suite (the expressions being identical,
    the rest of the suite follows; the full comparison is a minute)."""
    from otgeom.suite import run_suite

    claims = ["gaussian-expectation", "q-integrates-to-h", "symbolic-equals-numeric", "ergodic-average",
              "policy-gradient", "riemannian-gradient", "gaussian-metric", "geodesic-speed"]
    a = run_suite([load_family(EXAMPLES / "switch2.toml")], claims, workers=None)
    b = run_suite(["switch2"], claims, workers=None)
    assert [_same_but_the_name(v) for v in a] == [_same_but_the_name(v) for v in b]


def test_file_modulated_has_the_builtin_verdicts():
    from otgeom.suite import run_suite

    claims = ["symbolic-equals-numeric", "policy-gradient", "riemannian-gradient", "gaussian-metric"]
    a = run_suite([load_family(EXAMPLES / "modulated.toml")], claims, workers=None)
    b = run_suite([("modulated", {"n": 3, "d": 1})], claims, workers=None)
    assert [_same_but_the_name(v) for v in a] == [_same_but_the_name(v) for v in b]


def test_parameters_override_the_file_defaults():
    fam = load_family(EXAMPLES / "queue3.toml", lam="1/3")
    assert fam.values["lam"][()] == sp.Rational(1, 3)
    with pytest.raises(otgeom.ParameterError, match="open interval"):
        load_family(EXAMPLES / "queue3.toml", lam="3/4")


def test_outside_the_closed_form_class_the_numeric_path_works():
    from otgeom.numeric.policies import GaussianPolicy
    from proofs_checks import claim

    fam = load_family(EXAMPLES / "logistic_ring.toml")
    out = otgeom.evaluate(fam, GaussianPolicy.from_std([0.0, 0.5, -0.5], [0.6, 0.8, 1.0]))
    assert abs(sum(out["rho"]) - 1) < 1e-12 and np.isfinite(out["J"])
    r = claim("symbolic-equals-numeric").run(fam)
    assert r.verdict == "not-applicable" and "closed-form class" in r.details["reason"]
    assert "exp" in r.details["reason"] or "factor" in r.details["reason"]
    assert claim("riemannian-gradient").run(fam).verdict == "holds"


# ----------------------------------------------------------------------------- fuzzing the parser
_A = sp.Symbol("a", real=True)
_SCOPE = Scope({"a": _A}, {"q": np.array([sp.Symbol("q_0"), sp.Symbol("q_1")], dtype=object)}, {"s": 1})
_TOKENS = ["a", "q", "s", "exp", "log", "sqrt", "Abs", "Min", "__import__", "lambda", "os", "x", "1", "2", "0.5",
           "10", "1e300", "+", "-", "*", "/", "**", "%", "(", ")", "[", "]", ",", ".", ":", "'", '"', " ", "if",
           "else", "<", "==", "and", "{", "}", "@", "~", "\\", "#", "9**9", "e"]
_VALID = ["q[s] * exp(-2 * (a - 1)**2)", "(a - q[0])**2 + 1/2", "Min(a, 1) + sqrt(a**2 + 1)", "q[(s + 1) % 2] * a"]


@st.composite
def _expression_strings(draw):
    if draw(st.booleans()):
        return "".join(draw(st.lists(st.sampled_from(_TOKENS), max_size=30)))
    text = list(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(0, 4))):  # mutations: delete, insert, replace one character
        i = draw(st.integers(0, max(len(text) - 1, 0)))
        op = draw(st.sampled_from(["del", "ins", "rep"]))
        ch = draw(st.sampled_from(list("aqs()[]*+-/.,'_0129 ex")))
        if op == "del" and text:
            del text[i]
        elif op == "ins":
            text.insert(i, ch)
        elif text:
            text[i] = ch
    return "".join(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expression_strings())
def test_parser_fuzz(text):
    """Random and mutated strings: a valid expression over the declared symbols, or the parser's own error; never
    another exception, never more than a second."""
    t0 = time.perf_counter()
    try:
        out = parse_expression(text, _SCOPE)
    except UnsafeExpressionError:
        pass
    else:
        assert isinstance(out, sp.Expr)
        assert out.free_symbols <= {_A, *_SCOPE.arrays["q"]}
    assert time.perf_counter() - t0 < 1.0


# ----------------------------------------------------------------------------- the command line on a file
def _cli(args, capsys):
    from otgeom.cli import main

    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_derive_eval_check_report_on_a_file(tmp_path, capsys):
    f = str(EXAMPLES / "queue3.toml")
    rc, out, _ = _cli(["derive", "--file", f], capsys)
    assert rc == 0 and out.startswith("# first_order(queue3)") and "lam" in out
    pol = tmp_path / "p.json"
    pol.write_text('{"mean": [0, 0.5, 1], "std": [0.5, 0.6, 0.7]}')
    rc, out, _ = _cli(["eval", "--file", f, "--param", 'lam="1/3"', "--policy", str(pol)], capsys)
    rec = __import__("json").loads(out)
    assert rc == 0 and rec["family"] == "queue3" and rec["parameters"]["lam"] == pytest.approx(1 / 3)
    rc, out, _ = _cli(["check", "--file", f, "--claim", "riemannian-gradient", "--claim", "stationary-gth-accuracy"],
                      capsys)
    assert rc == 0 and "queue3" in out and "holds: 2" in out
    rc, _, err = _cli(["report", "--file", f, "--no-claims", "-o", str(tmp_path / "q.md")], capsys)
    assert rc == 0 and "otgeom report --file" in (tmp_path / "q.md").read_text()
    rc, _, err = _cli(["derive", "switch2", "--file", f], capsys)
    assert rc == 2 and "not both" in err
    rc, _, err = _cli(["derive"], capsys)
    assert rc == 2 and "--file" in err


def test_derive_outside_the_closed_form_class_says_why(capsys):
    rc, _, err = _cli(["derive", "--file", str(EXAMPLES / "logistic_ring.toml")], capsys)
    assert rc == 2 and "the symbolic derivation is not applicable" in err and "1/(1 + exp(-c_0*(a - b_0)))" in err
    assert "the numeric path still applies" in err


def test_a_bad_file_on_the_command_line_is_one_line(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text(BASE.replace('each = "(a - t[s])**2 + e[s]"', "each = \"__import__('os')\""))
    rc, out, err = _cli(["check", "--file", str(f)], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1 and "bad.toml, line" in err


# ----------------------------------------------------------------------------- saved results
def test_results_round_trip_with_the_family_and_the_seed(tmp_path):
    from otgeom.numeric.policies import GaussianPolicy
    from otgeom.results import load_result, save_result
    from proofs_checks import claim

    fam = load_family(EXAMPLES / "queue3.toml", lam="1/3")
    pol = GaussianPolicy.from_std([0, 0.5, 1], [0.5, 0.6, 0.7])
    path = save_result(tmp_path / "opt.json", "optimum", fam, pol, seed=7, note="by hand")
    r = load_result(path)
    assert r.kind == "optimum" and r.seed == 7 and r.note == "by hand"
    assert r.family.parameter_values() == fam.parameter_values() and np.allclose(r.policy.cov, pol.cov)
    v = claim("gaussian-metric").mutant("unweighted").run(otgeom.family("switch2", q=["1/3", "1/2"]), seed=5)
    path = save_result(tmp_path / "ce.json", "counterexample", otgeom.family("switch2", q=["1/3", "1/2"]), v, seed=5)
    r = load_result(path)
    assert r.data["verdict"] == "fails" and r.seed == 5 and r.family.values["q"][0] == sp.Rational(1, 3)
    assert claim("gaussian-metric").mutant("unweighted").run(r.family, seed=r.seed).to_json() == v.to_json()


def test_a_saved_result_refuses_a_changed_family_file(tmp_path):
    from otgeom.numeric.policies import GaussianPolicy
    from otgeom.results import load_result, save_result

    f = tmp_path / "q.toml"
    f.write_text((EXAMPLES / "queue3.toml").read_text())
    path = save_result(tmp_path / "p.json", "policy", load_family(f), GaussianPolicy.from_std([0, 0, 0], [1, 1, 1]))
    f.write_text(f.read_text().replace('default = "1/4"', 'default = "1/5"'))
    with pytest.raises(otgeom.ParameterError, match="changed since"):
        load_result(path)


def test_the_readme_family_file_loads():
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = text.split("### Your own families")[1].split("```toml\n")[1].split("```")[0]
    fam = load_family_text(block, "README.md")
    assert fam.name == "queue3" and fam.n_states == 3


def test_long_flat_sums_are_not_depth():
    out = parse_expression(" + ".join(["a"] * 900), _SCOPE)
    assert out == 900 * _A


# ----------------------------------------------------------------------------- the family protocol
def test_every_family_declares_what_it_supports():
    from otgeom.families import KINDS, supports

    for kind in KINDS.values():
        for name in kind.names():
            can = supports(kind.make(name))
            assert can.kind == kind.name and can.evaluation and can.policy_format
            assert kind.describe(name)[0].startswith(f"{name}: ")
    fam = load_family(EXAMPLES / "queue3.toml")
    assert supports(fam).kind == "finite" and supports(fam).second_order
    assert not supports(otgeom.family("modulated", n=2, d=2)).second_order
    with pytest.raises(otgeom.ParameterError, match="not an otgeom family"):
        supports(object())


def test_no_module_tests_family_classes_by_hand():
    """The command line, check, report, eval and the certificates ask the protocol (otgeom.families.protocol)."""
    root = Path(__file__).resolve().parent.parent
    offenders = [str(p.relative_to(root)) for d in ("otgeom", "proofs_checks") for p in (root / d).rglob("*.py")
                 if 'getattr(fam, "kind"' in p.read_text() or 'getattr(family, "kind"' in p.read_text()
                 or "isinstance(fam, LQFamily)" in p.read_text() or "isinstance(family, LQFamily)" in p.read_text()]
    assert offenders == []


def test_a_parameter_error_points_at_that_parameter_line():
    text = BASE.replace("default = [1, 2]", "default = [1, -2]")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "[1, -2]" in ln)
    with pytest.raises(FamilyFileSemanticError, match=rf"x.toml, line {line} \(parameters.k.default\)"):
        load_family_text(text, "x.toml")
