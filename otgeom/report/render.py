r"""Render a :class:`~otgeom.report.document.Report` as Markdown, standalone LaTeX or HTML with MathML.

* ``md``: math between dollar signs (``$...$`` inline, ``$$...$$`` displayed), which GitHub and
  Jupyter render; figures are SVG files beside the report (``<stem>-figures/``).
* ``tex``: a standalone ``article`` that compiles with pdflatex (amsmath, graphicx, longtable,
  geometry: all in texlive-latex-base/-recommended); figures are PDF files beside the report.
* ``html``: one self-contained XHTML-compatible page, presentation MathML (converted from the same
  LaTeX by :func:`otgeom.typeset.mathml`) and inline SVG figures: no JavaScript, no network.

Text has two inline markups, read by one tokenizer (:func:`_segments`) for all three formats: ``$...$``
is math and ```...``` is code (a claim name, a command): Markdown keeps the backticks, LaTeX typesets
``\texttt`` with every character escaped so that it reads back (pdftotext, copy and paste) as typed,
HTML uses ``<code>``.  A meta value or table cell that is a :class:`~otgeom.report.document.Literal` is
code as a whole (the reproduce command).

Rendered without a figure directory (``stem=None``: standard output), Markdown inlines its figures as
``data:`` URIs and LaTeX names the command that writes them, so no output links a file that was never
written.  :func:`report_format` is the one place that decides a report's format from ``--format`` and
the output file's extension.

Every renderer is a pure function of the report: the same report gives the same bytes.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from otgeom.report.document import Code, Equation, Figure, Literal, Para, Report, Table
from otgeom.typeset import mathml

__all__ = ["FORMATS", "EXTENSIONS", "render", "figure_dir_name", "figure_file", "report_format"]

FORMATS = ("md", "tex", "html")
#: output file extensions and the format each one means (``-o r.html`` writes HTML)
EXTENSIONS = {".md": "md", ".markdown": "md", ".tex": "tex", ".html": "html", ".htm": "html", ".xhtml": "html"}
#: inline math ``$...$`` or inline code ```...```
_INLINE = re.compile(r"\$([^$]+)\$|`([^`]+)`")


def report_format(fmt: str | None, path=None) -> str:
    """The format of a report: ``fmt`` if given, else the output file's extension, else ``md`` (``.pdf`` is refused).

    A ``fmt`` that contradicts a known extension (``--format md -o r.html``) is a usage error
    (:class:`~otgeom.errors.ParameterError`, exit status 2), as is an unknown ``fmt``.
    """
    from otgeom.errors import ParameterError

    if fmt is not None and fmt not in FORMATS:
        raise ParameterError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    suffix = Path(str(path)).suffix.lower() if path is not None and str(path) else ""
    if suffix == ".pdf":
        raise ParameterError(f"{Path(str(path)).name!r}: reports are md, tex or html; for a PDF write "
                             f"{Path(str(path)).stem}.tex and compile it with pdflatex")
    implied = EXTENSIONS.get(suffix)
    if fmt is not None and implied is not None and fmt != implied:
        raise ParameterError(f"--format {fmt} contradicts the output file name {Path(str(path)).name!r}, "
                             f"which means {implied}; give one of them, or a matching name")
    return fmt or implied or "md"


def figure_dir_name(stem: str) -> str:
    """Directory (beside the report) holding the figure files of the md and tex formats."""
    return f"{stem}-figures"


def figure_file(fig: Figure, fmt: str) -> str:
    return f"{fig.name}.{'pdf' if fmt == 'tex' else 'svg'}"


def _segments(text: str):
    """(kind, piece) pairs of a text: kind is "text", "math" ($...$) or "code" (`...`; all of a Literal)."""
    if isinstance(text, Literal):
        yield "code", str(text)
        return
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            yield "text", text[pos:m.start()]
        yield ("math", m.group(1)) if m.group(1) is not None else ("code", m.group(2))
        pos = m.end()
    if pos < len(text):
        yield "text", text[pos:]


# ---------------------------------------------------------------- Markdown
def _md_text(text: str) -> str:
    """Markdown keeps ``$...$`` and backticks; a Literal gets its backticks here (a fence longer than its own)."""
    if isinstance(text, Literal):
        fence = "`" * (max((len(r) for r in re.findall("`+", text)), default=0) + 1)
        pad = " " if text.startswith("`") or text.endswith("`") else ""
        return f"{fence}{pad}{text}{pad}{fence}"
    return text


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", r"\|").replace("\n", " ")


def _markdown(rep: Report, stem: str | None) -> str:
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
                if stem is None:  # standard output: no figure files, the SVG inline
                    target = "data:image/svg+xml;base64," + base64.b64encode(b.svg.encode("utf-8")).decode("ascii")
                else:
                    target = f"{figure_dir_name(stem)}/{figure_file(b, 'md')}"
                out += [f"![{b.caption}]({target})", "", f"*{b.caption}*", ""]
            elif isinstance(b, Code):
                out += ["```text", b.text, "```", ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- LaTeX
_TEX_ESCAPE = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_CHARS = {"≤": r"$\le$", "≥": r"$\ge$", "→": r"$\to$", "×": r"$\times$", "−": "-", "–": "--", "—": "---",
              "·": r"$\cdot$", "≈": r"$\approx$", "∞": r"$\infty$"}


#: inline code: every character as itself in a copy from the PDF (no -- ligature, straight quotes)
_TEX_CODE = {**_TEX_ESCAPE, "-": "-{}", "'": r"\textquotesingle{}", "`": r"\textasciigrave{}", '"': r"\textquotedbl{}",
             "<": r"\textless{}", ">": r"\textgreater{}", " ": "~"}


#: a line break before a command's option: `` \`` ends the line (a shell's continuation), else one space
_TEX_CODE_BREAK = r"\discretionary{\mbox{ }\textbackslash}{}{\mbox{ }}"


def _tex_code(piece: str) -> str:
    r"""``\texttt`` of inline code.  A line breaks only before an option (`` --x``) and then ends in `` \``, so
    the text copied from the PDF (pdftotext) is the command as a shell takes it, continuation included."""
    words = piece.split(" ")
    chunks = []
    for i, w in enumerate(words):
        esc = "".join(_TEX_CODE.get(c, c) for c in w)
        sep = "" if i == 0 else (_TEX_CODE_BREAK if w.startswith("-") else "~")
        chunks.append(sep + esc)
    return r"\texttt{" + "".join(chunks) + "}"


def _tex_text(text: str) -> str:
    parts = []
    for kind, piece in _segments(text):
        if kind == "math":
            parts.append(f"${piece}$")
        elif kind == "code":
            parts.append(_tex_code(piece))
        else:
            esc = "".join(_TEX_ESCAPE.get(c, c) for c in piece)
            parts.append("".join(_TEX_CHARS.get(c, c) for c in esc))
    return "".join(parts)


#: LaTeX tables of at least this many columns fold their short columns into the first one
_TEX_FOLD_COLUMNS = 5
#: a column is short when none of its cells is longer than this (characters of source text)
_TEX_SHORT_CELL = 12


def _visible_length(text: str) -> int:
    """Rough printed length of a cell: inline math counts half its LaTeX source."""
    return sum(len(p) // 2 if kind == "math" else len(p) for kind, p in _segments(text))


def _tex_widths(columns: list[list[str]], total: float) -> list[float]:
    """Column widths (fractions of the line) by water-filling: a column that needs less than its share of what is
    left (in proportion to its text) gets its natural width, its longest line; the others share the rest in
    proportion to their text.  A cell's lines are separated by newlines."""
    natural = [max(_visible_length(line) for c in col for line in c.split("\n")) * 0.0085 + 0.01 for col in columns]
    weight = [max(1, sum(_visible_length(c) for c in col)) for col in columns]
    widths: list[float | None] = [None] * len(columns)
    left = total
    while True:
        open_ = [i for i, w in enumerate(widths) if w is None]
        if not open_:
            return [w for w in widths]  # type: ignore[misc]
        fixed = [i for i in open_ if natural[i] <= left * weight[i] / sum(weight[j] for j in open_)]
        if not fixed:
            wsum = sum(weight[i] for i in open_)
            for i in open_:
                widths[i] = left * weight[i] / wsum
            continue
        for i in fixed:
            widths[i] = natural[i]
            left -= natural[i]


def _tex_table(b: Table) -> list[str]:
    """A longtable.  Wide tables (at least :data:`_TEX_FOLD_COLUMNS` columns) stack their short columns
    under the first cell of each row (``header: value``), so the long columns get the width and the rows stay
    short; column widths are water-filled by the length of their text (:func:`_tex_widths`)."""
    header, rows = list(b.header), [list(r) for r in b.rows]
    k = len(header)
    cells = [[_tex_text(c) for c in row] for row in rows]
    short = [j for j in range(1, k) if rows and all(len(r[j]) <= _TEX_SHORT_CELL for r in rows)] \
        if k >= _TEX_FOLD_COLUMNS else []
    keep = [j for j in range(k) if j not in short]
    if short:
        cells = [[(row[0] + "".join(rf"\newline {_tex_text(header[j])}: {row[j]}" for j in short)) if j == 0
                  else row[j] for j in keep] for row in cells]
        header = [header[0] + "".join(f", {header[j]}" for j in short)] + [header[j] for j in keep[1:]]
        rows = [[r[0] + "".join(f"\n{b.header[j]}: {r[j]}" for j in short)] + [r[j] for j in keep[1:]] for r in rows]
    n = len(keep)
    widths = _tex_widths([[header[j]] + [r[j] for r in rows] for j in range(n)], 0.97 - n * 0.017)
    size = r"\footnotesize" if short else r"\small"
    out = [rf"{{{size}\setlength{{\tabcolsep}}{{4pt}}\begin{{longtable}}{{"
           + "".join(rf">{{\raggedright\arraybackslash}}p{{{w:.3f}\linewidth}}" for w in widths) + "}"]
    out.append(" & ".join(rf"\textbf{{{_tex_text(h)}}}" for h in header) + r" \\ \hline\endhead")
    out += [" & ".join(row) + r" \\" for row in cells]
    out.append(r"\end{longtable}}")
    return out


def _latex(rep: Report, stem: str | None) -> str:
    out = [r"\documentclass[10pt]{article}", r"\usepackage[utf8]{inputenc}", r"\usepackage[T1]{fontenc}",
           r"\usepackage[margin=2cm]{geometry}", r"\usepackage{amsmath,amssymb,graphicx,longtable,array,textcomp}",
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
                out += _tex_table(b)
            elif isinstance(b, Figure) and stem is None:  # standard output: no figure file to include
                out += [rf"{{\small {_tex_text(b.caption)} (The figure is written with the report: "
                        rf"{_tex_code('otgeom report ... --format tex -o FILE.tex')}.)}}", ""]
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
th{background:#eee}.display{margin:0.3em 0;padding:0.4em 0.1em;overflow-x:auto;overflow-y:hidden}
.display math{margin:0;padding:0.15em 0}code{font-family:'DejaVu Sans Mono',monospace;font-size:0.88em;background:#f4f4f4;padding:0 0.15em}
pre{background:#f4f4f4;padding:0.6em;overflow-x:auto}
table.wide{font-size:0.82em;line-height:1.3}table.wide td:nth-child(-n+4){white-space:nowrap}figure{margin:1em 0}figcaption{font-style:italic}.verdict-holds{color:#060}.verdict-fails{color:#a00;font-weight:bold}"""


def _html_text(text: str, where: str) -> str:
    parts = []
    for kind, piece in _segments(text):
        if kind == "math":
            parts.append(mathml(piece, display=False, name=where))
        elif kind == "code":
            parts.append(f"<code>{html.escape(piece, quote=False)}</code>")
        else:
            parts.append(html.escape(piece, quote=False))
    return "".join(parts)


def _svg_inline(svg: str) -> str:
    """Matplotlib's SVG without the XML declaration and DOCTYPE (inline in the page)."""
    start = svg.find("<svg")
    return svg[start:].strip()


def _html(rep: Report, stem: str | None) -> str:
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
                # the box scrolls sideways when a formula is wider than the page; never up and down (tall
                # brackets and fractions get padding instead, so nothing is clipped)
                out.append(f'<div class="display">{mathml(b.tex, display=True, name=f"{sec.title}: {b.name}")}</div>')
            elif isinstance(b, Table):
                out.append('<table class="wide">' if len(b.header) >= _TEX_FOLD_COLUMNS else "<table>")
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


def render(rep: Report, fmt: str, stem: str | None = None) -> str:
    """The report as text in ``fmt`` (md, tex, html); ``stem`` names the figure directory of md and tex.

    ``stem=None`` (standard output, no files beside it): Markdown inlines its figures as ``data:`` URIs,
    LaTeX replaces each figure by its caption and the command that writes it.
    """
    try:
        fn = {"md": _markdown, "tex": _latex, "html": _html}[fmt]
    except KeyError:
        from otgeom.errors import ParameterError

        raise ParameterError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    return fn(rep, stem)
