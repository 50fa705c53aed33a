"""Reports of the grid families (THEORY.md section 6): sections, numbers, figures, every format, reproducibility.

The report of ``grid-linear`` is the seed's own test of the theory: the gradient flow from the derived formulas
must reach the LQ optimum (policy error on the inner half of the grid, J against the Riccati J* plus the
rounding term P* h^2/12).  ``double-well`` and ``pendulum`` are compared with the zero action.  Reports built
here leave the claim table out (the grid claims are tested with the claims); pendulum reports take about 20 s
each, so the tests that build one are marked slow.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from functools import lru_cache

import numpy as np
import pytest

from otgeom.cli import main
from otgeom.families import family
from otgeom.report import Figure, Para, Report, Table, build_report, render, write_report
from otgeom.report.content import SECTIONS, _claims_section, _command, rebuild_params
from otgeom.report.plots import BAND_LEVELS, band_figure, gaussian_bands, image_figure, quantile_bands

MATHML = "{http://www.w3.org/1998/Math/MathML}"
XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"
from report_tools import CHROMIUM, PDFLATEX
from report_tools import compile_tex as _compile
from report_tools import parse_html as _parse_html
from report_tools import screenshot_ink as _screenshot_ink
GRID = ("grid-linear", "double-well", "pendulum")
FIGURES = {"grid-linear": ["flow", "policy", "rho", "lq"], "double-well": ["flow", "policy", "rho", "endpoint"],
           "pendulum": ["flow", "policy", "rho"]}
LQ_TITLE = "Against the LQ closed form: the seed's own test"
ZERO_TITLE = "The flows' end point against the zero action"


@lru_cache(maxsize=None)
def _report(name: str, **params) -> tuple[Report, tuple[str, ...]]:
    """The report of a grid family (no claims) and the messages of the GridWarnings it let out."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = build_report(family(name, **params), claims=False)
    from otgeom.errors import GridWarning

    return rep, tuple(str(w.message) for w in caught if issubclass(w.category, GridWarning))


def _section(rep: Report, title: str):
    return next(s for s in rep.sections if s.title == title)


def _tables(section) -> list[Table]:
    return [b for b in section.blocks if isinstance(b, Table)]


def _text(section) -> str:
    return " ".join(b.text for b in section.blocks if isinstance(b, Para))


def _row(table: Table, first: str) -> tuple:
    return next(r for r in table.rows if r[0] == first)








# ------------------------------------------------------------------ the plots
def test_quantile_bands_read_particles_as_quantile_nodes():
    A = np.array([[3.0, 0.0, 1.0, 2.0], [5.0, 5.0, 5.0, 5.0]])  # unsorted: sorted first
    Q = quantile_bands(A, (0.1, 0.25, 0.5, 0.875, 0.95))
    # nodes at u = 1/8, 3/8, 5/8, 7/8; constant beyond the first and the last
    assert Q[:, 0].tolist() == [0.0, 0.5, 1.5, 3.0, 3.0]
    assert Q[:, 1].tolist() == [5.0] * 5
    from scipy.special import ndtri

    m, s = np.array([0.0, 1.0]), np.array([1.0, 0.5])
    G = gaussian_bands(m, s)
    assert G.shape == (len(BAND_LEVELS), 2)
    assert np.allclose(G[:, 1], 1.0 + 0.5 * ndtri(np.array(BAND_LEVELS)))
    assert np.allclose(G[2], m)  # the median is the mean


def test_band_and_image_figures_are_deterministic_svg_and_pdf():
    x = np.linspace(-1, 1, 21)
    frames = [("t = 0", gaussian_bands(-x, np.ones_like(x))), ("t = 1", gaussian_bands(-2 * x, 0.1 * np.ones_like(x)))]
    figs = [band_figure("b", "caption", x, [("Gaussian", frames), ("particles", frames[:1])], "x", "a",
                        ("reference", -2 * x)) for _ in range(2)]
    assert figs[0].svg == figs[1].svg and figs[0].pdf == figs[1].pdf
    assert figs[0].pdf.startswith(b"%PDF") and "<svg" in figs[0].svg
    z = np.outer(np.linspace(-1, 1, 6), np.ones(4))
    rho = np.exp(-np.add.outer(np.arange(6.0), np.arange(4.0)) * 10)
    rho[0, 0] = 0.0  # a zero on a log scale is drawn at the floor, not an error
    panels = [{"z": z, "extent": (0, 1, 0, 1), "xlabel": "x", "ylabel": "y", "centered": True, "title": "a"},
              {"z": rho, "extent": (0, 1, 0, 1), "xlabel": "x", "ylabel": "y", "log": True, "label": "rho"}]
    imgs = [image_figure("i", "caption", panels) for _ in range(2)]
    assert imgs[0].svg == imgs[1].svg and imgs[0].pdf == imgs[1].pdf
    root = ET.fromstring(imgs[0].svg[imgs[0].svg.find("<svg"):])
    images = root.findall(f".//{SVG}image")
    assert len(images) >= 2  # the two fields (and the colour bars)
    hrefs = [im.get("{http://www.w3.org/1999/xlink}href") or im.get("href") for im in images]
    assert all(h.startswith("data:image/png;base64,") for h in hrefs)  # embedded: one file per figure


# ------------------------------------------------------------------ sections and provenance
def test_grid_families_have_their_own_sections_and_no_claim_table_when_no_claim_applies():
    assert "grid" in SECTIONS and len(SECTIONS["grid"]) >= 4
    assert all(f.__name__.startswith("_grid") for f in SECTIONS["grid"])

    sec = _claims_section(family("double-well"), 0, [])  # no claim of the suite is about grid families
    assert sec.title == "Claims" and not _tables(sec)
    assert "not applicable" in _text(sec) and "kind grid" in _text(sec)


@pytest.mark.parametrize("name, kw", [("double-well", {}), ("double-well", {"boundary": "clipped", "cells": 61}),
                                      ("grid-linear", {"alpha": 0.9, "noise": 0.5, "half_width": 4.0}),
                                      ("pendulum", {"cells_theta": 24, "noise_theta": 0.3, "r": 0.1})])
def test_reproduce_command_rebuilds_the_grid_family(name, kw):
    import shlex

    from otgeom.cli import _parse_params

    fam = family(name, **kw)
    cmd = shlex.split(_command(fam, rebuild_params(fam)))
    assert cmd[:3] == ["otgeom", "report", name]
    back = family(name, **_parse_params([a for k, a in zip(cmd, cmd[1:]) if k == "--param"]))
    assert dict(back.values) == dict(fam.values)
    assert ("--param" in cmd) == bool(kw)


def test_bad_grid_parameter_is_one_line_exit_2(tmp_path, capsys):
    rc = main(["report", "grid-linear", "--param", "cells=2", "-o", str(tmp_path / "r.md")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "must be an integer >= 3" in err
    assert list(tmp_path.iterdir()) == []


def test_a_grid_family_without_a_gaussian_closed_form_gets_the_particle_flow_and_says_why():
    """A drift not affine in a: no closed-form Gaussian chain; the report runs the particle flow alone."""
    import sympy as sp

    from otgeom.families.grid import Axis, GridParameter, GridSpec

    spec = GridSpec(name="saturated", description="x' = x/2 + tanh(a) + noise; c = x^2 + a^2",
                    state_names=("x",), parameters=(GridParameter("cells", 31, "cells", "cells"),),
                    axes=lambda p: (Axis("x", -3.0, 3.0, p["cells"], "clipped", 0.3),),
                    drift=lambda x, a, p: [x[0] / 2 + sp.tanh(a)], cost=lambda x, a, p: x[0] ** 2 + a ** 2)
    fam = spec.instantiate()
    assert fam.affine_axis is None
    rep = build_report(fam, claims=False)
    assert dict(rep.meta)["reproduce"] == "otgeom report saturated --format FORMAT --no-claims"
    chain = _section(rep, "The chain at the initial policy and its certificates")
    assert "8 quantiles of these laws per state (no closed form" in _text(chain)
    flows = _tables(_section(rep, "Gradient flows"))[0]
    gauss, parts = flows.rows
    assert gauss[-1].startswith("the flow failed:") and "affine in a" in gauss[-1]
    assert parts[-1].startswith("converged")
    assert [f.name for f in rep.figures] == ["flow", "policy", "rho", "endpoint"]
    costs = _tables(_section(rep, ZERO_TITLE))[0]
    assert [r[0] for r in costs.rows] == ["zero action ($a = 0$ in every state)", "end of the particle flow"]


@pytest.mark.parametrize("name", ["grid-linear", "double-well"])
def test_grid_report_sections_figures_and_certificates(name):
    rep, leaked = _report(name)
    assert leaked == (), "boundary warnings belong in the report's tables, not on the terminal"
    meta = dict(rep.meta)
    assert meta["family"] == name and meta["reproduce"] == f"otgeom report {name} --format FORMAT --no-claims"
    titles = [s.title for s in rep.sections]
    assert titles[:3] == ["Definitions", "The chain at the initial policy and its certificates", "Gradient flows"]
    assert [f.name for f in rep.figures] == FIGURES[name]
    md = render(rep, "md")
    fam = family(name)
    assert "q_l = \\Phi(z_{l+1}) - \\Phi(z_l)" in md and "\\partial_a q_l" in md  # the kernel and its derivative
    assert str(fam.axes[0].cells) in _row(_tables(_section(rep, "Definitions"))[1], "cells")[1]
    cert = _tables(_section(rep, "The chain at the initial policy and its certificates"))[0]
    assert {r[0] for r in cert.rows} >= {"(R1) irreducible", "(R1) aperiodic", "(R2) $\\min_i \\rho_i > 0$",
                                         "residual of $\\rho$", "residual of $h$", "truncation", "boundary mass"}
    assert _row(cert, "(R1) irreducible")[1].startswith("True")
    flows = _tables(_section(rep, "Gradient flows"))[0]
    assert [r[0] for r in flows.rows] == ["Gaussian per state (derived closed form)", "8 quantile particles"]
    for r in flows.rows:
        assert r[-1].startswith("converged"), r
        assert float(r[4]) < float(r[3])  # J at the end below J at the start
    assert "decreases at every step of both flows: yes" in _text(_section(rep, "Gradient flows"))


def test_double_well_boundary_mass_above_tolerance_is_said_in_the_table():
    rep, _ = _report("double-well", noise=0.5)  # noise 0.5: the initial policy pushes 1.6 % of the step mass past +-2
    cert = _tables(_section(rep, "The chain at the initial policy and its certificates"))[0]
    assert "ABOVE it" in _row(cert, "boundary mass")[1]
    end = _tables(_section(rep, ZERO_TITLE))[-1]
    assert "ABOVE" not in _row(end, "boundary mass")[1]


def test_grid_linear_flow_reaches_the_lq_optimum():
    """The seed's own test: the derived Gaussian flow and the particle flow reach -K* x on the inner half of the
    grid, and the grid's optimal J exceeds the Riccati J* by the rounding term P* h^2/12."""
    from otgeom.numeric.lq import lq_optimum

    rep, _ = _report("grid-linear")
    sec = _section(rep, LQ_TITLE)
    opt = lq_optimum(family("lq", A=1.1, B=0.5, Qc=1, R=0.5, W=1))
    eq = next(b for b in sec.blocks if getattr(b, "name", "") == "LQ optimum")
    assert f"K^* = {opt.K[0, 0]:.10g}" in eq.tex and f"J^* = P^* W = {opt.J:.10g}" in eq.tex
    table = _tables(sec)[0]
    J_grid = float(_row(table, "grid: $J$ at the end of the Gaussian flow")[1])
    gap = float(_row(table, "$J_{\\text{grid}} - J^*$")[1])
    predicted = float(_row(table, "predicted $P^* h^2/12$")[1])
    h = 16 / 161
    assert predicted == pytest.approx(opt.P[0, 0] * h * h / 12, rel=1e-4)
    assert gap == pytest.approx(J_grid - opt.J, abs=2e-9)
    assert gap == pytest.approx(predicted, rel=1e-4)  # measured 3e-8 relative
    for flow in ("Gaussian flow", "particle flow"):
        err = float(_row(table, f"policy error at the end, {flow}")[1])
        assert err < 1e-6  # from 0.7 at t = 0; measured 3.3e-8
    assert "lq" in [f.name for f in sec.blocks if isinstance(f, Figure)]


def test_double_well_end_point_is_nonlinear_and_beats_the_zero_action():
    rep, _ = _report("double-well")
    sec = _section(rep, ZERO_TITLE)
    costs = _tables(sec)[0]
    J0 = float(_row(costs, "zero action ($a = 0$ in every state)")[1])
    J = float(_row(costs, "end of the Gaussian flow")[1])
    assert J < 0.5 * J0
    text = _text(sec)
    slope = float(re.search(r"feedback has slope (-?[0-9.]+)", text)[1])
    K = float(re.search(r"has \$-K = (-?[0-9.]+)\$", text)[1])
    assert -4 < slope < -2 and -4 < K < -2 and abs(slope - K) > 0.05  # close to, but not, the linearised gain
    assert "the optimal feedback is nonlinear" in text


# ------------------------------------------------------------------ slow: the pendulum, every format, two runs
@pytest.mark.slow
def test_pendulum_report_beats_zero_torque_and_stays_upright():
    rep, leaked = _report("pendulum")
    assert leaked == ()
    assert [f.name for f in rep.figures] == FIGURES["pendulum"]
    sec = _section(rep, ZERO_TITLE)
    costs, upright = _tables(sec)[:2]
    J0 = float(_row(costs, "zero action ($a = 0$ in every state)")[1])
    assert J0 > 1.0  # without torque the pendulum is mostly away from upright (cost 2 at the bottom)
    for flow in ("Gaussian flow", "particle flow"):
        assert float(_row(costs, f"end of the {flow}")[1]) < 0.2 * J0
        assert float(_row(upright, f"end of the {flow}")[1]) > 0.9
    assert float(_row(upright, "zero action")[1]) < 0.3
    flows = _tables(_section(rep, "Gradient flows"))[0]
    assert all(float(r[4]) < float(r[3]) for r in flows.rows)


@pytest.mark.slow
@pytest.mark.parametrize("name", GRID)
def test_grid_report_in_every_format(name, tmp_path):
    rep, _ = _report(name)
    for fmt in ("md", "tex", "html"):
        write_report(rep, fmt, tmp_path / f"r.{fmt}")
    md = (tmp_path / "r.md").read_text()
    assert md.startswith(f"# otgeom report: {name}\n") and md.count("$$") % 2 == 0
    for fig in FIGURES[name]:
        assert f"r-figures/{fig}.svg" in md and (tmp_path / "r-figures" / f"{fig}.svg").exists()
        assert (tmp_path / "r-figures" / f"{fig}.pdf").exists()
    root = _parse_html(tmp_path / "r.html")
    assert len(list(root.iter(f"{MATHML}math"))) >= md.count("$$") // 2
    assert len(root.findall(f".//{SVG}svg")) == len(FIGURES[name])  # the figures are inline
    assert root.find(f".//{XHTML}script") is None
    if PDFLATEX:
        _compile(tmp_path / "r.tex")
    if CHROMIUM:
        dark, rows = _screenshot_ink(tmp_path / "r.html", tmp_path)
        assert 0.01 < dark < 0.5 and rows > 300, f"screenshot looks blank: {dark:.2%} dark, {rows} rows with ink"


@pytest.mark.slow
def test_grid_report_through_the_cli_in_every_format(tmp_path, capsys):
    for fmt in ("md", "tex", "html"):
        out = tmp_path / f"report.{fmt}"
        rc = main(["report", "double-well", "--param", 'boundary="clipped"', "--param", "half_width=2.5",
                   "--no-claims", "-o", str(out)])
        err = capsys.readouterr().err
        assert rc == 0, err
        assert out.exists() and "warning" not in err
    md = (tmp_path / "report.md").read_text()
    assert "| parameters | dt = 0.2; r = 0.1; noise = 0.3; half_width = 2.5; cells = 81; boundary = clipped; particles = 8 |" in md
    assert "otgeom report double-well --param 'boundary=\"clipped\"' --param half_width=2.5 --format FORMAT" in md
    assert (tmp_path / "report-figures" / "endpoint.pdf").exists()


@pytest.mark.slow
def test_two_runs_of_a_grid_report_give_identical_files(tmp_path):
    """Separate processes (different hash seeds): byte-identical Markdown and figures."""
    outs = []
    for seed in ("3", "4"):
        d = tmp_path / seed
        d.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "otgeom.cli", "report", "double-well", "--no-claims", "-o",
                        str(d / "r.md")], env=env, check=True, capture_output=True, timeout=600)
        outs.append({p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()})
    assert sorted(outs[0]) == ["r-figures/endpoint.svg", "r-figures/flow.svg", "r-figures/policy.svg",
                               "r-figures/rho.svg", "r.md"]
    for name in outs[0]:
        assert outs[0][name] == outs[1][name], f"{name} differs between two runs"
