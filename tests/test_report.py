"""Formula reports: content of every format for every built-in family, reproducibility, atomic writing, errors."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sympy as sp

from otgeom.cli import main
from otgeom.errors import ReportError
from otgeom.families import BUILTIN_CASES, family
from otgeom.report import Equation, Para, Report, Section, Table, build_report, make_report, render, write_report
from otgeom.typeset import TypesetError, latex, latex_lines, mathml

MATHML = "{http://www.w3.org/1998/Math/MathML}"
XHTML = "{http://www.w3.org/1999/xhtml}"
from report_tools import CHROMIUM, PDFLATEX
from report_tools import compile_tex as _compile
from report_tools import parse_html as _parse_html
from report_tools import screenshot_ink as _screenshot_ink


def _case_id(case):
    name, kw = case
    return name + "".join(f"-{k}={v}" for k, v in kw.items())


def _cli_args(case):
    name, kw = case
    return [name] + [a for k, v in kw.items() for a in ("--param", f"{k}={v}" if k == "example" else f'{k}="{v}"'
                                                         if isinstance(v, str) else f"{k}={v}")]


def _run_cli(args, capsys):
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err








# ------------------------------------------------------------------ typesetting
@pytest.mark.parametrize("expr", [
    sp.Piecewise((sp.Symbol("x"), sp.Symbol("x") > 0), (0, True)),
    sp.Sum(sp.Symbol("x") ** 2, (sp.Symbol("x"), 1, sp.Symbol("n"))),
    sp.Product(sp.Symbol("x"), (sp.Symbol("x"), 1, 3)),
    sp.Matrix([[1, sp.Symbol("rho_0")], [sp.Symbol("x") / (1 + sp.Symbol("x") ** 2), 2]]),
    sp.Add(*[sp.Symbol(f"P_{i}_{i + 1}") / (1 + sp.Symbol(f"sigma_{i}") ** 2) for i in range(12)]),
], ids=["piecewise", "sum", "product", "matrix", "long-fraction-sum"])
def test_mathml_is_well_formed_for_hard_constructs(expr):
    tex = latex_lines("F", expr)
    m = mathml(tex)
    root = ET.fromstring(m)
    assert root.tag == f"{MATHML}math" and root.get("display") == "block"
    assert len(list(root.iter())) > 5
    if isinstance(expr, sp.Add):
        assert tex.startswith(r"\begin{aligned}")  # broken into lines, laid out as a table
        assert root.find(f".//{MATHML}mtable") is not None
    if isinstance(expr, sp.Piecewise):
        assert root.find(f".//{MATHML}mtable") is not None and "otherwise" in m


def test_symbol_names_follow_the_conventions():
    assert latex(sp.Symbol("P_0_1")) == "{P}_{0,1}"
    assert latex(sp.Symbol("sigma_0")) == r"{\sigma}_{0}"
    assert latex(sp.Symbol("drho_1_dm_0")) == r"\partial_{{m}_{0}} {\rho}_{1}"
    assert latex(sp.Symbol("hshift")) == r"\mathrm{hshift}"


def test_unconvertible_latex_is_a_typeset_error_naming_the_formula():
    with pytest.raises(TypesetError, match="my formula"):
        mathml(r"\frac{1}{", name="my formula")


# ------------------------------------------------------------------ every family, every format, through the CLI
@pytest.mark.parametrize("case", BUILTIN_CASES, ids=[_case_id(c) for c in BUILTIN_CASES])
def test_every_builtin_family_in_every_format(case, tmp_path, capsys):
    fam = family(case[0], **case[1])
    for fmt in ("md", "tex", "html"):
        out = tmp_path / f"report.{fmt}"
        rc, _, err = _run_cli(["report", *_cli_args(case), "--format", fmt, "-o", str(out), "--no-claims"], capsys)
        assert rc == 0, err
        assert out.exists()
    md = (tmp_path / "report.md").read_text()
    assert md.startswith(f"# otgeom report: {fam.label}\n")
    assert md.count("$$") >= 8 and md.count("$$") % 2 == 0
    assert "| otgeom version | " in md
    assert ("| parameters | " if fam.kind == "grid" else "| parameters (exact) | ") in md  # grid: float64 values
    assert (tmp_path / "report-figures" / "flow.svg").exists() and "report-figures/flow.svg" in md
    assert (tmp_path / "report-figures" / "flow.pdf").exists()
    if fam.kind == "finite":
        # the family's own kernel and cost, and the derived stationary law, are in the Markdown
        assert f"c(0, a) = {latex(fam.cost[0])}" in md
        assert f"p(0 \\mid 0, a) = {latex(fam.kernel[0][0])}" in md
        assert r"{\rho}_{0} = \frac{{\tau}_{0}}{Z}" in md
        assert "G(\\theta)" in md or fam.action_dim > 1
    elif fam.kind == "grid":
        # the cell-probability kernel, the family's drift, and the chain's certificates
        assert "q_l = \\Phi(z_{l+1}) - \\Phi(z_l)" in md
        assert "boundary mass" in md.lower()
    else:
        from otgeom.numeric.lq import lq_optimum

        K = lq_optimum(fam).K
        assert f"{K[0, 0]:.6g}" in md  # the DARE gain
        assert r"\dot K = -2E_K" in md
    tex = (tmp_path / "report.tex").read_text()
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    assert "report-figures/flow.pdf" in tex
    root = _parse_html(tmp_path / "report.html")
    maths = list(root.iter(f"{MATHML}math"))
    assert len(maths) >= md.count("$$") // 2
    assert root.find(f".//{XHTML}script") is None
    assert root.find(".//{http://www.w3.org/2000/svg}svg") is not None  # the figure is inline
    if PDFLATEX:
        _compile(tmp_path / "report.tex")
    if CHROMIUM:
        dark, rows = _screenshot_ink(tmp_path / "report.html", tmp_path)
        # a page of text, tables and MathML formulas: ink on most rows, but far from a black page
        assert 0.01 < dark < 0.5 and rows > 300, f"screenshot looks blank: {dark:.2%} dark, {rows} rows with ink"


def test_claim_table_in_the_report(tmp_path):
    rep = build_report(family("switch2"), seed=0)
    claims = [s for s in rep.sections if s.title == "Claims"]
    assert len(claims) == 1
    table = claims[0].blocks[1]
    from proofs_checks import CLAIMS

    fam = family("switch2")
    names = {c.name for c in CLAIMS if c.applies_to(fam)}
    assert {row[0] for row in table.rows} == names
    # every claim holds but those about other action dimensions (gaussian-metric-bures is for d >= 2)
    other_d = {c.name for c in CLAIMS if c.applies_to(fam) and c.applies and c.applies(fam)}
    assert other_d == {"gaussian-metric-bures"}
    assert all(row[1] == ("not-applicable" if row[0] in other_d else "holds") for row in table.rows)
    assert all(row[4] for row in table.rows)  # every tolerance states its reason
    write_report(rep, "html", tmp_path / "r.html")
    root = _parse_html(tmp_path / "r.html")
    # the claim rows' verdict cells are styled (the certificate tables style theirs too: count the claim rows)
    rows = [list(tr.iter(f"{XHTML}td")) for tr in root.iter(f"{XHTML}tr")]
    held = [tds[0].text for tds in rows if len(tds) > 1 and tds[0].text in names
            and tds[1].get("class") == "verdict-holds"]
    assert sorted(held) == sorted(names - other_d)


def test_finite_report_states_the_optimum_and_its_spectrum():
    rep = build_report(family("switch2"), claims=False)
    opt = next(s for s in rep.sections if s.title == "Optimum and local convexity")
    text = " ".join(b.text for b in opt.blocks if isinstance(b, Para))
    assert "locally geodesically convex" in text
    spec = next(b for b in opt.blocks if isinstance(b, Equation) and b.name == "spectrum")
    lam = [float(x) for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", spec.tex.split("=")[1])]
    assert len(lam) == 4 and min(lam) > 0


def test_finite_report_second_order_sections():
    """Christoffel symbols and sectional curvatures in Geometry; Hess_sub by two routes and the Gauss-formula
    residual; Newton on particles converging quadratically to the Gaussian flow's end point."""
    rep = build_report(family("switch2"), claims=False)
    sec = {s.title: s for s in rep.sections}
    geo_tables = [b for b in sec["Geometry"].blocks if isinstance(b, Table)]
    chris = next(t for t in geo_tables if t.header[0] == "symbol")
    assert len(chris.rows) == 28 and all("\\partial" in r[1] for r in chris.rows)
    curv = next(t for t in geo_tables if t.header[0] == "plane")
    assert len(curv.rows) == 6 and max(abs(float(r[1])) for r in curv.rows) > 0.1      # curved
    so = sec["Second order: Hessians on the Gaussian family and on the full space"]
    rows = next(b for b in so.blocks if isinstance(b, Table)).rows
    routes, perp, diff, relation = (float(r[1]) for r in rows)
    assert routes < 1e-9 and relation < 1e-10 and perp > 0.1 and diff > 0.01
    newton = sec["Newton on particles"]
    steps = next(b for b in newton.blocks if isinstance(b, Table)).rows
    assert steps[-1][-1] == "converged"
    text = " ".join(b.text for b in newton.blocks if isinstance(b, Para))
    order = float(re.search(r"above 1e-12: ([0-9.]+)", text)[1])
    assert order > 1.7
    assert re.search(r"\(difference (0|[0-9.]+e-1[0-9])\)", text), text


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex not installed (.ci/run installs Debian's texlive-latex-base)")
def test_latex_report_with_claim_table_compiles(tmp_path):
    make_report(family("switch2"), "tex", tmp_path / "r.tex")
    assert r"\begin{longtable}" in (tmp_path / "r.tex").read_text()
    _compile(tmp_path / "r.tex")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs Debian's chromium)")
def test_blank_page_is_detected_as_blank(tmp_path):
    """The screenshot check can fail: a page with no content has (almost) no ink."""
    (tmp_path / "blank.html").write_text("<!DOCTYPE html><html><body></body></html>")
    dark, rows = _screenshot_ink(tmp_path / "blank.html", tmp_path)
    assert dark < 0.01 and rows < 300


def test_external_programs_present_in_ci():
    """CI installs pdflatex and chromium (.ci/run); elsewhere their tests skip, and this says so."""
    if os.environ.get("CI"):
        assert PDFLATEX and CHROMIUM
    elif not (PDFLATEX and CHROMIUM):
        pytest.skip("pdflatex or chromium missing: the LaTeX-compile and screenshot checks are skipped")


# ------------------------------------------------------------------ reproducible and atomic
@pytest.mark.slow
def test_two_runs_give_identical_files(tmp_path):
    """Separate processes (different hash seeds) produce byte-identical reports and figures (claims in the md)."""
    outs = []
    for seed in ("11", "12"):
        d = tmp_path / seed
        d.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        for fmt in ("md", "html", "tex"):
            subprocess.run([sys.executable, "-m", "otgeom.cli", "report", "switch2", "--format", fmt, "-o",
                            str(d / f"r.{fmt}")] + ([] if fmt == "md" else ["--no-claims"]),
                           env=env, check=True, capture_output=True, timeout=600)
        outs.append({p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()})
    assert sorted(outs[0]) == ["r-figures/flow.pdf", "r-figures/flow.svg", "r.html", "r.md", "r.tex"]
    for name in outs[0]:
        assert outs[0][name] == outs[1][name], f"{name} differs between two runs"


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    rep = build_report(family("lq"), claims=False)
    target = tmp_path / "r.md"
    target.write_text("previous report\n")
    import otgeom.report.write as w

    real_replace = os.replace

    def interrupted(src, dst):
        if Path(dst) == target:
            raise KeyboardInterrupt  # e.g. Ctrl-C between writing and renaming the report
        return real_replace(src, dst)

    monkeypatch.setattr(w.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(rep, "md", target)
    assert target.read_text() == "previous report\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_formula_that_cannot_be_typeset_writes_nothing(tmp_path):
    rep = Report("bad", (("otgeom version", "x"),), (Section("s", (Equation(r"\frac{1}{", "broken"),)),))
    with pytest.raises(TypesetError, match="broken"):
        write_report(rep, "html", tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_report_to_stdout(capsys):
    rc, out, _ = _run_cli(["report", "lq", "--format", "md", "--no-claims"], capsys)
    assert rc == 0 and out.startswith("# otgeom report: lq[scalar]\n")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("args, message", [
    (["report", "nosuch"], "unknown family 'nosuch'"),
    (["report", "switch2", "--param", "zz=1"], "unknown parameter(s) zz"),
    (["report", "switch2", "--param", "q=[2,0.5]"], "q[0] = 2 must be in the open interval (0, 1)"),
    (["report", "lq", "--param", "tau=-1"], "tau = -1 must be >= 0"),
    (["report", "switch2", "-o", "{tmp}/missing/r.md"], "directory {tmp}/missing does not exist"),
    (["report", "switch2", "-o", "{tmp}"], "it is a directory"),
    (["report", "switch2", "-o", "{tmp}/afile/r.md"], "does not exist"),
], ids=["family", "parameter-name", "domain", "lq-domain", "missing-dir", "is-dir", "parent-is-file"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(args, message, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    rc, out, err = _run_cli(args, capsys)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("otgeom: error: ")
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_python_api_unwritable_path_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        make_report(family("lq"), "md", tmp_path / "no" / "r.md", claims=False)


def test_python_api_matches_cli(tmp_path, capsys):
    fam = family("lq", example="dean")
    text = make_report(fam, "md", claims=False)
    rc, out, _ = _run_cli(["report", "lq", "--param", "example=dean", "--no-claims"], capsys)
    assert rc == 0
    # the reproduce line echoes the command's parameters; everything else is the same
    strip = lambda s: re.sub(r"\| reproduce \|.*\n", "", s)  # noqa: E731
    assert strip(text) == strip(out)
    assert render(build_report(fam, claims=False), "md") == text


def test_derivation_displays_as_typeset_math_in_jupyter():
    from otgeom.symbolic.geometry import first_order

    D = first_order(family("switch2"))
    md = D._repr_markdown_()
    blocks = md.split("$$")[1::2]
    assert len(blocks) >= 40
    assert any(b.strip().startswith(r"{\rho}_{0} = \frac{{\tau}_{0}}{Z}") for b in blocks)
    assert any(r"\mathtt{metric} = \left[\begin{matrix}{\rho}_{0}" in b for b in blocks)
    for b in blocks:
        mathml(b.strip())  # every displayed formula converts to well-formed MathML
    assert "more definitions" in md  # long derivations are cut, with a pointer to the rest


@pytest.mark.parametrize("name, kw", [("switch2", {}), ("switch2", {"q": ["9/10", "1/3"]}), ("modulated", {"n": 4}),
                                      ("modulated", {"n": 2, "d": 2, "M": [[0, 1], [0, 1]]}),
                                      ("lq", {"example": "dean"}), ("lq", {"A": 1.2, "B": 1, "tau": "1/2"})])
def test_reproduce_command_of_the_python_api_rebuilds_the_family(name, kw):
    """Without params (Python API) the reproduce command carries the overrides that rebuild the family exactly."""
    import shlex

    from otgeom.cli import _parse_params
    from otgeom.report.content import _command, _exact_json, rebuild_params

    fam = family(name, **kw)
    cmd = shlex.split(_command(fam, rebuild_params(fam)))
    assert cmd[:3] == ["otgeom", "report", name]
    back = family(name, **_parse_params([a for k, a in zip(cmd, cmd[1:]) if k == "--param"]))
    if name == "lq":
        assert {k: _exact_json(v) for k, v in back.exact.items()} == {k: _exact_json(v) for k, v in fam.exact.items()}
    else:
        assert back.structure == fam.structure
        assert {k: _exact_json(v) for k, v in back.values.items()} == {k: _exact_json(v) for k, v in fam.values.items()}
    if not kw:
        assert "--param" not in cmd


def test_reproduce_command_in_the_report_meta_names_the_parameters():
    rep = build_report(family("switch2", q=["9/10", "1/3"]), claims=False)
    assert dict(rep.meta)["reproduce"] == "otgeom report switch2 --param 'q=[\"9/10\",\"1/3\"]' --format FORMAT --no-claims"
