r"""Render a :class:`~otgeom.report.document.Report` as Markdown, standalone LaTeX or HTML with MathML.

* ``md``: math between dollar signs (``$...$`` inline, ``$$...$$`` displayed), which GitHub and
  Jupyter render; figures are SVG files beside the report (``<stem>-figures/``).
* ``tex``: a standalone ``article`` that compiles with pdflatex (amsmath, graphicx, longtable,
  geometry: all in texlive-latex-base/-recommended); figures are PDF files beside the report.
* ``html``: one self-contained XHTML-compatible page, presentation MathML (converted from the same
  LaTeX by :func:`otgeom.typeset.mathml`) and inline SVG figures: no JavaScript, no network.

Every renderer is a pure function of the report: the same report gives the same bytes.
"""
from __future__ import annotations

import html
import re

from otgeom.report.document import Code, Equation, Figure, Para, Report, Table
from otgeom.typeset import mathml

__all__ = ["FORMATS", "render", "figure_dir_name", "figure_file"]

FORMATS = ("md", "tex", "html")
_INLINE = re.compile(r"\$([^$]+)\$")


def figure_dir_name(stem: str) -> str:
    """Directory (beside the report) holding the figure files of the md and tex formats."""
    return f"{stem}-figures"


def figure_file(fig: Figure, fmt: str) -> str:
    return f"{fig.name}.{'pdf' if fmt == 'tex' else 'svg'}"


def _segments(text: str):
    """(is_math, piece) pairs of a text with $...$ inline math."""
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            yield False, text[pos:m.start()]
        yield True, m.group(1)
        pos = m.end()
    if pos < len(text):
        yield False, text[pos:]


# ---------------------------------------------------------------- Markdown
def _md_cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def _markdown(rep: Report, stem: str) -> str:
    out = [f"# {rep.title}", "", "| | |", "|---|---|"]
    out += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in rep.meta]
    for sec in rep.sections:
        out += ["", f"## {sec.title}", ""]
        for b in sec.blocks:
            if isinstance(b, Para):
                out += [b.text, ""]
            elif isinstance(b, Equation):
                out += ["$$", b.tex, "$$", ""]
            elif isinstance(b, Table):
                out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
                out.append("|" + "---|" * len(b.header))
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
                out.append("")
            elif isinstance(b, Figure):
                out += [f"![{b.caption}]({figure_dir_name(stem)}/{figure_file(b, 'md')})", "", f"*{b.caption}*", ""]
            elif isinstance(b, Code):
                out += ["```text", b.text, "```", ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- LaTeX
_TEX_ESCAPE = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_CHARS = {"≤": r"$\le$", "≥": r"$\ge$", "→": r"$\to$", "×": r"$\times$", "−": "-", "–": "--", "—": "---",
              "·": r"$\cdot$", "≈": r"$\approx$", "∞": r"$\infty$"}


def _tex_text(text: str) -> str:
    parts = []
    for is_math, piece in _segments(text):
        if is_math:
            parts.append(f"${piece}$")
        else:
            esc = "".join(_TEX_ESCAPE.get(c, c) for c in piece)
            parts.append("".join(_TEX_CHARS.get(c, c) for c in esc))
    return "".join(parts)


def _latex(rep: Report, stem: str) -> str:
    out = [r"\documentclass[10pt]{article}", r"\usepackage[utf8]{inputenc}", r"\usepackage[T1]{fontenc}",
           r"\usepackage[margin=2cm]{geometry}", r"\usepackage{amsmath,amssymb,graphicx,longtable,array}",
           r"\allowdisplaybreaks", r"\setlength{\parindent}{0pt}", r"\setlength{\parskip}{0.5em}",
           r"\begin{document}", rf"\section*{{{_tex_text(rep.title)}}}",
           r"\begin{tabular}{>{\raggedright}p{0.25\linewidth}p{0.68\linewidth}}"]
    out += [rf"{_tex_text(k)} & {_tex_text(v)} \\" for k, v in rep.meta]
    out.append(r"\end{tabular}")
    for sec in rep.sections:
        out += ["", rf"\subsection*{{{_tex_text(sec.title)}}}"]
        for b in sec.blocks:
            if isinstance(b, Para):
                out += [_tex_text(b.text), ""]
            elif isinstance(b, Equation):
                out += [r"{\small\begin{equation*}", b.tex, r"\end{equation*}}"]
            elif isinstance(b, Table):
                k = len(b.header)
                width = f"{0.9 / k:.3f}"
                out.append(r"{\small\begin{longtable}{" + "".join(rf">{{\raggedright\arraybackslash}}p{{{width}\linewidth}}"
                                                              for _ in range(k)) + "}")
                out.append(" & ".join(rf"\textbf{{{_tex_text(h)}}}" for h in b.header) + r" \\ \hline\endhead")
                out += [" & ".join(_tex_text(c) for c in row) + r" \\" for row in b.rows]
                out.append(r"\end{longtable}}")
            elif isinstance(b, Figure):
                out += [r"\begin{center}",
                        rf"\includegraphics[width=0.85\linewidth]{{{figure_dir_name(stem)}/{figure_file(b, 'tex')}}}\\",
                        rf"{{\small {_tex_text(b.caption)}}}", r"\end{center}"]
            elif isinstance(b, Code):
                out += [r"\begin{verbatim}", b.text, r"\end{verbatim}"]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- HTML + MathML
_CSS = """body{font-family:Georgia,'DejaVu Serif',serif;max-width:60em;margin:2em auto;padding:0 1em;color:#111;line-height:1.45}
table{border-collapse:collapse;margin:0.8em 0}td,th{border:1px solid #bbb;padding:0.25em 0.6em;text-align:left;vertical-align:top}
th{background:#eee}math[display=block]{margin:0.6em 0;overflow-x:auto}pre{background:#f4f4f4;padding:0.6em;overflow-x:auto}
figure{margin:1em 0}figcaption{font-style:italic}.verdict-holds{color:#060}.verdict-fails{color:#a00;font-weight:bold}"""


def _html_text(text: str, where: str) -> str:
    parts = []
    for is_math, piece in _segments(text):
        parts.append(mathml(piece, display=False, name=where) if is_math else html.escape(piece, quote=False))
    return "".join(parts)


def _svg_inline(svg: str) -> str:
    """Matplotlib's SVG without the XML declaration and DOCTYPE (inline in the page)."""
    start = svg.find("<svg")
    return svg[start:].strip()


def _html(rep: Report, stem: str) -> str:
    out = ['<!DOCTYPE html>', '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">', "<head>",
           '<meta charset="utf-8"/>', f"<title>{html.escape(rep.title)}</title>", f"<style>{_CSS}</style>",
           "</head>", "<body>", f"<h1>{_html_text(rep.title, 'title')}</h1>", "<table>"]
    out += [f"<tr><th>{_html_text(k, k)}</th><td>{_html_text(v, k)}</td></tr>" for k, v in rep.meta]
    out.append("</table>")
    for sec in rep.sections:
        out.append(f"<h2>{_html_text(sec.title, sec.title)}</h2>")
        for b in sec.blocks:
            if isinstance(b, Para):
                out.append(f"<p>{_html_text(b.text, sec.title)}</p>")
            elif isinstance(b, Equation):
                out.append(mathml(b.tex, display=True, name=f"{sec.title}: {b.name}"))
            elif isinstance(b, Table):
                out.append("<table>")
                out.append("<tr>" + "".join(f"<th>{_html_text(h, sec.title)}</th>" for h in b.header) + "</tr>")
                for row in b.rows:
                    cells = []
                    for c in row:
                        cls = f' class="verdict-{c}"' if c in ("holds", "fails") else ""
                        cells.append(f"<td{cls}>{_html_text(c, sec.title)}</td>")
                    out.append("<tr>" + "".join(cells) + "</tr>")
                out.append("</table>")
            elif isinstance(b, Figure):
                out.append(f"<figure>{_svg_inline(b.svg)}<figcaption>{_html_text(b.caption, b.name)}</figcaption></figure>")
            elif isinstance(b, Code):
                out.append(f"<pre>{html.escape(b.text, quote=False)}</pre>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def render(rep: Report, fmt: str, stem: str = "report") -> str:
    """The report as text in ``fmt`` (md, tex, html); ``stem`` names the figure directory of md and tex."""
    try:
        fn = {"md": _markdown, "tex": _latex, "html": _html}[fmt]
    except KeyError:
        from otgeom.errors import ParameterError

        raise ParameterError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    return fn(rep, stem)
