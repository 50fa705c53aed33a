r"""One source of truth for typesetting: sympy's LaTeX printer, converted to MathML, and a canonical text form.

* :func:`latex` prints an expression with otgeom's symbol conventions (``P_0_1`` is
  :math:`P_{0,1}`, ``sigma_0`` is :math:`\sigma_{0}`, ``drho_1_dm_0`` is :math:`\partial_{m_{0}}\rho_{1}`,
  multi-letter names upright), so the Markdown, LaTeX and HTML reports show the same formula.
* :func:`latex_lines` breaks a long sum into lines of an ``aligned`` block (no walls of symbols).
* :func:`mathml` converts that LaTeX to presentation MathML with latex2mathml (sympy's own MathML
  printer drops Piecewise and Product and emits named entities that are not XML); the result
  is checked to be well-formed XML, and an unconvertible formula raises :class:`TypesetError`.
* :func:`canonical_text` is the stable plain-text form used by the formula snapshots.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import lru_cache
from typing import Iterable

import sympy as sp

from otgeom.errors import OtgeomError

__all__ = ["TypesetError", "symbol_latex", "latex", "latex_lines", "mathml", "canonical_text"]


class TypesetError(OtgeomError):
    """A formula could not be typeset (names the formula)."""



_DERIVATIVE = re.compile(r"^d(?P<f>[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*?)_d(?P<x>[A-Za-z]+(?:_[0-9]+)*)$")


_SECOND_DERIVATIVE = re.compile(r"^d2(?P<f>[A-Za-z][A-Za-z0-9]*)_d(?P<x>[A-Za-z]+)2$")


@lru_cache(maxsize=4096)
def symbol_latex(name: str) -> str:
    r"""LaTeX for a symbol name: base and ``_``-separated indices (``P_0_1`` -> ``P_{0,1}``).

    ``dF_dx`` (a named forward-mode derivative) prints as :math:`\partial_{x} F`.
    """
    m2 = _SECOND_DERIVATIVE.match(name)
    if m2:
        return rf"\partial^2_{{{symbol_latex(m2['x'])}}} {symbol_latex(m2['f'])}"
    m = _DERIVATIVE.match(name)
    if m and not name.startswith("d_"):
        return rf"\partial_{{{symbol_latex(m['x'])}}} {symbol_latex(m['f'])}"
    base, *idx = name.split("_")
    if not base:
        return rf"\mathrm{{{name}}}"
    head = sp.latex(sp.Symbol(base))
    if head == base and len(base) > 1:
        head = rf"\mathrm{{{base}}}"
    if not idx:
        return head
    parts = [sp.latex(sp.Symbol(i)) if i[:1].isalpha() else i for i in idx]
    return rf"{{{head}}}_{{{','.join(parts)}}}"


def _names(exprs: Iterable[sp.Basic]) -> dict:
    return {s: symbol_latex(s.name) for e in exprs for s in e.free_symbols if isinstance(s, sp.Symbol)}


def latex(expr, **settings) -> str:
    """sympy's LaTeX of ``expr`` (an expression or a Matrix) with otgeom's symbol names."""
    expr = sp.sympify(expr)
    return sp.latex(expr, symbol_names=_names([expr]), **settings)


def latex_lines(lhs: str, expr, max_terms: int = 4, max_chars: int = 160) -> str:
    r"""``lhs = expr`` as an ``aligned`` block when the sum is long, otherwise a single line.

    A sum whose LaTeX is longer than ``max_chars`` is broken after every ``max_terms`` terms.
    """
    expr = sp.sympify(expr)
    whole = latex(expr)
    if len(whole) <= max_chars or not expr.is_Add:
        return f"{lhs} = {whole}"
    terms = sp.Add.make_args(expr)
    names = _names([expr])
    ordered = sorted(terms, key=sp.default_sort_key)
    texts = [sp.latex(t, symbol_names=names) for t in ordered]
    lines, cur = [], []
    for t in texts:
        cur.append(t)
        if len(cur) == max_terms:
            lines.append(cur)
            cur = []
    if cur:
        lines.append(cur)
    out = []
    for i, chunk in enumerate(lines):
        body = " + ".join(chunk).replace("+ -", "- ")
        lead = f"{lhs} = {{}} & " if i == 0 else "& "
        if i > 0 and not body.startswith("-"):
            body = "+ " + body
        out.append(lead + body)
    return r"\begin{aligned}" + r" \\ ".join(out) + r"\end{aligned}"


def mathml(tex: str, display: bool = True, name: str = "formula") -> str:
    """Presentation MathML for a LaTeX formula (latex2mathml), checked well-formed."""
    from latex2mathml.converter import convert

    # latex2mathml lays out ``align*`` as a table but leaves the ``&`` of ``aligned`` as raw text
    tex = tex.replace(r"\begin{aligned}", r"\begin{align*}").replace(r"\end{aligned}", r"\end{align*}")
    try:
        out = convert(tex, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises its own exception types and plain ones
        raise TypesetError(f"{name}: cannot convert to MathML ({type(exc).__name__}: {exc}): {tex[:120]}") from None
    try:
        ET.fromstring(out)
    except ET.ParseError as exc:
        raise TypesetError(f"{name}: MathML is not well-formed XML ({exc})") from None
    return out


def canonical_text(expr) -> str:
    """Stable one-line text of an expression (sympy's str printer; sums in sympy's canonical order)."""
    expr = sp.sympify(expr)
    if isinstance(expr, sp.MatrixBase):
        return "Matrix(" + str([[canonical_text(x) for x in expr.row(i)] for i in range(expr.rows)]) + ")"
    return sp.sstr(expr, order="lex")
