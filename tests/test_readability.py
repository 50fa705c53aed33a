"""What a researcher sees (issue 15): reports, help and command output that read right, on every route.

One test per defect of the issue: inline code typeset (no backticks in the HTML, the reproduce command
copied from the PDF as a shell takes it), claim names that exist, figures present or inlined on standard
output, the format taken from ``-o``, display math without scrollbars in Chromium, the PDF claim table
within two pages, the flow plot without round-off fragments, ``check``'s header and error units,
``check --claims``'s family and JSON keys, parameter-shape messages, ``derive``'s notes, help texts,
negative zeros, and the README.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from otgeom.cli import build_parser, main
from otgeom.families import family
from otgeom.report import Literal, Report, build_report, render, write_report

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFLATEX = shutil.which("pdflatex")
PDFTOTEXT = shutil.which("pdftotext")
PDFINFO = shutil.which("pdfinfo")
XHTML = "{http://www.w3.org/1999/xhtml}"


def _cli(args, capsys):
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@lru_cache(maxsize=None)
def _switch2(claims: bool) -> Report:
    return build_report(family("switch2"), claims=claims)


def _compile(tex: Path) -> Path:
    proc = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return tex.with_suffix(".pdf")


# ------------------------------------------------------------------ inline code, one route in three formats
def test_no_backticks_in_html_text_nodes_and_code_is_typeset(tmp_path):
    rep = _switch2(False)
    md = render(rep, "md")
    assert "`geodesic-speed`" in md  # Markdown keeps its own markup
    write_report(rep, "html", tmp_path / "r.html")
    root = ET.fromstring((tmp_path / "r.html").read_text().split("\n", 1)[1])
    texts = [t for el in root.iter() for t in (el.text, el.tail) if t]
    assert not [t for t in texts if "`" in t]
    codes = [el.text for el in root.iter(f"{XHTML}code")]
    assert "geodesic-speed" in codes and "policy-gradient" in codes
    assert any(c.startswith("otgeom report switch2") for c in codes)  # the reproduce command is code
    tex = render(rep, "tex", "r")
    assert r"\texttt{geodesic-{}speed}" in tex
    assert "`" not in tex.replace(r"\textasciigrave", "")  # no `` (an opening quote in LaTeX) anywhere


def test_claim_names_in_reports_exist_in_the_suite():
    from otgeom.examples import EXAMPLES
    from proofs_checks import CLAIMS

    known = {c.name for c in CLAIMS}
    named = set()
    for rep in (_switch2(False), build_report(family("lq"), claims=False)):
        for m in re.finditer(r"claims? ((?:`[^`]+`(?:,? (?:and )?)?)+)", render(rep, "md")):
            named |= set(re.findall(r"`([^`]+)`", m.group(1)))
    assert {"geodesic-speed", "policy-gradient", "sectional-curvature", "connection-term"} <= named
    assert named <= known | set(EXAMPLES), named - known
    assert "symbolic-policy-gradient" not in render(_switch2(False), "md")


@pytest.mark.skipif(not (PDFLATEX and PDFTOTEXT), reason="pdflatex or pdftotext (poppler-utils) not installed")
def test_pdf_text_holds_the_reproduce_command_as_a_shell_takes_it(tmp_path):
    rep = build_report(family("switch2", q=["9/10", "1/3"]), claims=False, params={"q": ["9/10", "1/3"]})
    command = dict(rep.meta)["reproduce"]
    assert isinstance(command, Literal) and "--param" in command and len(command) > 70  # long enough to wrap
    write_report(rep, "tex", tmp_path / "r.tex")
    text = subprocess.run([PDFTOTEXT, "-layout", str(_compile(tmp_path / "r.tex")), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "\u2013" not in text.split("Definitions")[0]  # no en dash in the provenance
    start = text.index("otgeom report switch2")
    lines = text[start:].split("\n")
    taken = lines[0]
    while taken.endswith("\\"):  # a shell joins a line that ends in a backslash with the next one
        lines.pop(0)
        taken = taken[:-1] + lines[0].strip()
    assert shlex.split(taken) == shlex.split(command)


# ------------------------------------------------------------------ figures on standard output, the format from -o
def test_standard_output_links_no_figure_file(tmp_path, capsys):
    rc, md, _ = _cli(["report", "lq", "--format", "md", "--no-claims"], capsys)
    assert rc == 0 and "-figures/" not in md
    assert "](data:image/svg+xml;base64," in md
    rc, tex, _ = _cli(["report", "lq", "--format", "tex", "--no-claims"], capsys)
    assert rc == 0 and r"\includegraphics" not in tex and "-figures/" not in tex
    assert "-o FILE.tex" in tex.replace("-{}", "-").replace("~", " ")
    if PDFLATEX:
        (tmp_path / "s.tex").write_text(tex)
        _compile(tmp_path / "s.tex")  # compiles with nothing beside it
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix not in (".aux", ".log", ".pdf")) == \
        (["s.tex"] if PDFLATEX else [])


@pytest.mark.parametrize("name, start", [("s.html", "<!DOCTYPE html>"), ("s.tex", r"\documentclass"),
                                         ("s.md", "# otgeom report"), ("s.htm", "<!DOCTYPE html>")])
def test_the_format_is_taken_from_the_output_name(name, start, tmp_path, capsys):
    rc, _, err = _cli(["report", "lq", "--no-claims", "-o", str(tmp_path / name)], capsys)
    assert rc == 0, err
    assert (tmp_path / name).read_text().startswith(start)


@pytest.mark.parametrize("fmt, name", [("md", "s.html"), ("html", "s.tex"), ("tex", "s.md")])
def test_a_format_that_contradicts_the_output_name_is_a_usage_error(fmt, name, tmp_path, capsys):
    rc, out, err = _cli(["report", "lq", "--no-claims", "--format", fmt, "-o", str(tmp_path / name)], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert f"--format {fmt} contradicts the output file name '{name}'" in err
    assert list(tmp_path.iterdir()) == []


def test_a_pdf_output_name_says_how_to_get_a_pdf(tmp_path, capsys):
    rc, out, err = _cli(["report", "lq", "--no-claims", "-o", str(tmp_path / "r.pdf")], capsys)
    assert rc == 2 and out == "" and "write r.tex and compile it with pdflatex" in err
    assert list(tmp_path.iterdir()) == []


def test_python_api_infers_the_format_too(tmp_path):
    from otgeom.errors import ParameterError
    from otgeom.report import make_report, report_format

    assert report_format(None, "x/r.HTML") == "html" and report_format(None, "r.txt") == "md"
    assert report_format("tex", None) == "tex" and report_format("tex", "r.txt") == "tex"
    make_report(family("lq"), path=tmp_path / "r.html", claims=False)
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(ParameterError, match="contradicts"):
        make_report(family("lq"), "md", tmp_path / "q.tex", claims=False)


# ------------------------------------------------------------------ layout: HTML in Chromium, the PDF claim table
_PROBE = """<script>
window.addEventListener('load', function () {
  var bad = [], maths = document.querySelectorAll('math[display=block]');
  maths.forEach(function (m, i) {
    for (var e = m; e && e !== document.body; e = e.parentElement) {
      var oy = getComputedStyle(e).overflowY;
      if (oy !== 'visible' && e.scrollHeight > e.clientHeight)
        bad.push([i, e.tagName, oy, e.scrollHeight, e.clientHeight]);
    }
  });
  var p = document.createElement('pre'); p.id = 'probe';
  p.textContent = JSON.stringify({n: maths.length, bad: bad});
  document.body.appendChild(p);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs Debian's chromium)")
def test_display_math_has_no_vertical_scrollbar_or_clipping_in_chromium(tmp_path):
    """Every display formula and every box around it is as tall as its content: nothing to scroll up and down, no
    bracket clipped (the 4 x 4 Hessians included).  The page itself has no script; the probe is added here."""
    write_report(_switch2(False), "html", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<script" not in page and r"\begin{bmatrix}" in render(_switch2(False), "md")
    (tmp_path / "probe.html").write_text(page.replace("</body>", _PROBE + "</body>"))
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1400",
                           "--virtual-time-budget=10000", "--dump-dom", (tmp_path / "probe.html").as_uri()],
                          capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result["n"] >= 40
    assert result["bad"] == [], f"display math that scrolls or clips: {result['bad'][:5]}"


@pytest.mark.skipif(not (PDFLATEX and PDFINFO), reason="pdflatex or pdfinfo (poppler-utils) not installed")
def test_pdf_claim_table_fits_in_two_pages(tmp_path):
    def pages(rep: Report, name: str) -> int:
        write_report(rep, "tex", tmp_path / f"{name}.tex")
        info = subprocess.run([PDFINFO, str(_compile(tmp_path / f"{name}.tex"))], capture_output=True, text=True,
                              check=True).stdout
        return int(re.search(r"Pages:\s+(\d+)", info).group(1))

    rep = _switch2(True)
    table = next(s for s in rep.sections if s.title == "Claims").blocks[1]
    assert len(table.rows) >= 21
    without = Report(rep.title, rep.meta, tuple(s for s in rep.sections if s.title != "Claims"))
    assert pages(rep, "with") - pages(without, "without") <= 2


def test_flow_plot_log_curves_end_at_the_round_off_floor(monkeypatch):
    import otgeom.report.content as content

    panels = []
    real = content.line_figure
    monkeypatch.setattr(content, "line_figure", lambda name, cap, p: panels.extend(p) or real(name, cap, p))
    _switch2.__wrapped__(False)
    logs = [p for p in panels if p.get("logy")]
    assert logs
    for p in logs:
        for label, y in p["ys"]:
            y = np.asarray(y, float)
            finite = np.flatnonzero(np.isfinite(y))
            assert finite.size > 10, label
            assert finite[-1] == finite.size - 1, f"{label}: fragments after the curve ended"  # a prefix
            assert (y[finite] > 1e-15).all() if label.startswith("J") else (y[finite] > 0).all()


# ------------------------------------------------------------------ command line
def test_check_prints_a_header_and_the_unit_of_each_error(capsys):
    claims = ["lq-ergodic-cost-mc", "lq-riccati-optimum", "lq-action-gradient", "lq-symbolic-scalar"]
    rc, out, _ = _cli(["check", "--family", "lq", *[a for c in claims for a in ("--claim", c)]], capsys)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["claim", "family", "verdict", "error", "tolerance"]
    assert "unit" in lines[0]
    units = dict(zip(claims, ["standard errors", "relative", "|slope - 2|", "absolute"]))
    for line in lines[1:1 + len(claims)]:
        name = line.split()[0]
        assert line.rstrip().endswith(units[name]), line
    rc, out, _ = _cli(["check", "--family", "lq", "--claim", "lq-riccati-optimum", "--json"], capsys)
    rec = json.loads(out)[0]
    assert rec["error_unit"] == "relative" and {"claim", "error", "tolerance", "tolerance_reason"} <= set(rec)


def test_check_claims_names_the_example_and_has_the_suite_keys(tmp_path, capsys):
    f = tmp_path / "one.py"
    f.write_text("from otgeom.claimed import ClaimedFormula\n"
                 "CLAIMED = [ClaimedFormula('full', lambda ctx: 0.5 * (ctx.lin.hessian(ctx.u, ctx.v) + "
                 "ctx.lin.hessian(ctx.v, ctx.u)))]\n")
    rc, out, _ = _cli(["check", "--claims", str(f), "--json"], capsys)
    rec = json.loads(out)[0]
    assert rc == 1 and rec["verdict"] == "fails"
    # extended, never renamed: the original keys stay beside the suite's names
    assert rec["claim"] == rec["name"] == "full" and rec["error"] == rec["worst_error"] > 0.1
    assert rec["example"] == "twin-wells" and rec["family"] == "modulated(n=2,d=1)"
    rc, out, _ = _cli(["check", "--claims", str(f)], capsys)
    head, row = out.splitlines()[:2]
    # the error column mixes units (a classified formula's relative error, a suite claim's own unit): each row
    # names its unit
    assert head.split()[:2] == ["claimed", "formula"] and " error " in head
    assert "twin-wells = modulated(n=2,d=1)" in row and row.endswith("hessian-full (relative error)")


def test_parameter_shape_message_reads_as_words(capsys):
    rc, _, err = _cli(["derive", "switch2", "--param", "k=3"], capsys)
    assert rc == 2 and "{" not in err and "'n'" not in err
    assert "parameter k has shape [], expected [2]: a list of 2 numbers (n, n = 2), given a number" in err


def test_derive_says_the_values_are_not_used_and_names_every_input(capsys):
    rc, plain, _ = _cli(["derive", "switch2"], capsys)
    rc2, given, _ = _cli(["derive", "switch2", "--param", "q=[0.3,0.6]"], capsys)
    assert rc == rc2 == 0
    note = [line for line in given.splitlines() if line.startswith("# note:")]
    assert len(note) == 1 and "q" in note[0] and "not substituted" in note[0]
    assert [line for line in given.splitlines() if not line.startswith("# note:")] == plain.splitlines()
    inputs = next(line for line in plain.splitlines() if line.startswith("# inputs:"))
    assert "m_0, sigma_0, m_1, sigma_1" in inputs
    assert not [line for line in plain.splitlines() if re.fullmatch(r"(\w+) = \1", line)]  # no "J = J"
    rc, out, _ = _cli(["derive", "modulated", "--param", "n=2"], capsys)
    assert "# note:" not in out  # a structural integer is used


def test_every_option_has_help_and_help_names_the_families(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, p in sub.choices.items()
               for a in p._actions if not a.help]
    assert missing == []
    for args in (["--help"], ["report", "--help"], ["check", "--help"], ["eval", "--help"]):
        rc, out, _ = _cli(args, capsys)
        from otgeom.families import family_names

        flat = " ".join(out.split())  # argparse wraps the list
        assert rc == 0 and ", ".join(family_names()) in flat


def test_numbers_in_text_output_have_no_negative_zero():
    from otgeom.textfmt import array, matrix, number

    assert number(-0.0) == "0" and number(-1e-20, 3) == "-1e-20" and number(2.5e-5) == "2.5e-5"
    assert array(np.array([0.0, -0.0, -0.0, -0.0])) == "[0, 0, 0, 0]"
    assert array([[1.0, -0.5], [-0.0, 2.0]]) == "[[1, -0.5], [0, 2]]"
    assert matrix([[2.05, -1e-17], [-0.0, -3.0]]) == "[2.05     0]\n[   0    -3]"
    notebook = (ROOT / "notebooks" / "05_second_order.py").read_text()
    assert "array(so.grad" in notebook and "matrix(so.hessian_full)" in notebook  # printed through the formatter


# ------------------------------------------------------------------ README
def test_readme_claim_table_is_one_table():
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| claim | witness (independent of the formula) | tolerance, why |")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = [line.split("|")[1].strip().strip("`").split("`")[0] for line in lines[start + 2:end]]
    from proofs_checks import CLAIMS

    assert rows == [c.name for c in CLAIMS]


def test_readme_states_what_ci_runs_and_how_to_run_a_notebook():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/otgeom check" in ci and "pytest -q" in ci  # the README's two steps, both
    assert "nbconvert" in readme and "nbconvert" in (ROOT / "pyproject.toml").read_text()
    assert "THEORY.md" in readme and "not in the wheel" in readme
    assert "Two report tests need outside programs" not in readme


def test_pdf_tools_present_in_ci():
    """CI installs poppler-utils (.ci/run): the pdftotext and page-count tests must run there."""
    if os.environ.get("CI"):
        assert PDFTOTEXT and PDFINFO
    elif not (PDFTOTEXT and PDFINFO):
        pytest.skip("pdftotext or pdfinfo missing (apt-get install poppler-utils): the PDF text checks are skipped")


def test_families_lists_concrete_sizes_where_there_is_no_structural_integer(capsys):
    rc, out, _ = _cli(["families"], capsys)
    assert rc == 0
    switch2 = out.split("switch2:")[1].split("\nlq:")[0]
    assert "    q [2] in the open interval (0, 1)" in switch2 and "[n]" not in switch2
    assert "    M [n x n] row-stochastic" in out  # modulated's n is its own structural integer


@pytest.mark.slow
def test_claims_in_forked_workers_give_the_sequential_report(monkeypatch):
    """The report runs its claims through otgeom.suite.run_suite in forked workers (one per core); every claim seeds
    its own generator, so the table is the one a single process computes (forced here by pretending to have one
    core)."""
    import otgeom.sweep as sweep

    fam = family("switch2")
    used = []
    executing = sweep.executing
    monkeypatch.setattr(sweep, "executing", lambda tasks, workers, *a, **k: used.append(workers) or
                        executing(tasks, workers, *a, **k))
    parallel = render(build_report(fam, seed=0, params={}), "md")
    assert used == [2]  # this machine (and CI) has two cores and fork
    monkeypatch.setattr(sweep, "default_workers", lambda: 1)
    assert render(build_report(fam, seed=0, params={}), "md") == parallel
    assert used == [2]  # the second report ran in this process
