"""Render a :class:`Report` as Markdown (PNG files beside it) and as one self-contained HTML
page (plots embedded as base64 data URIs; inline CSS; no scripts, fonts or network)."""

from __future__ import annotations

import base64
import html
import re
import struct

from archsim.report.document import Block, Bullets, Paragraph, Plot, Report, Table


def png_file_name(plot: Plot) -> str:
    return f"{plot.name}.png"


# ----------------------------------------------------------------------------- Markdown

def render_markdown(report: Report) -> str:
    out = [f"# {report.title}", "", f"*{report.subtitle}*", ""]
    for section in report.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            out += [*_md_block(block), ""]
    if report.omitted:
        out += ["## Not in this report", ""]
        out += [f"- {title}: {why}" for title, why in report.omitted] + [""]
    return "\n".join(out).rstrip() + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items]
    if isinstance(block, Table):
        lines = ["| " + " | ".join(_md_cell(h) for h in block.header) + " |",
                 "|" + "|".join("---" for _ in block.header) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        if block.caption:
            lines += ["", f"*{block.caption}*"]
        return lines
    return [f"![{block.caption}]({png_file_name(block)})", "", f"*{block.caption}*"]


# ----------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d1d1d; background: #ffffff; margin: 0; line-height: 1.45; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #cccccc; padding-bottom: 4px; margin-top: 1.8em; }
.subtitle { color: #555555; margin-top: 0; }
nav ol { columns: 2; color: #333333; }
a { color: #333333; }
.table { max-width: 100%; overflow-x: auto; margin: 12px 0; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #cccccc; padding: 4px 8px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: #f0f0f0; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nw { white-space: nowrap; }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; box-sizing: border-box; }
figcaption, .caption { color: #555555; font-size: 0.9em; }
"""


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ValueError if ``png`` is not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def render_html(report: Report) -> str:
    esc = html.escape
    parts = ["<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<link rel="icon" href="data:,">',
             f"<title>{esc(report.title)}</title>", f"<style>{_CSS}</style>", "</head>",
             "<body>", "<main>", f"<h1>{esc(report.title)}</h1>",
             f'<p class="subtitle">{esc(report.subtitle)}</p>',
             '<nav aria-label="contents"><ol>']
    parts += [f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in report.sections]
    parts.append("</ol></nav>")
    for section in report.sections:
        parts.append(f'<section id="{esc(section.id)}">')
        parts.append(f"<h2>{esc(section.title)}</h2>")
        for block in section.blocks:
            parts.append(_html_block(block))
        parts.append("</section>")
    if report.omitted:
        parts.append('<section id="omitted"><h2>Not in this report</h2><ul>')
        parts += [f"<li>{esc(t)}: {esc(why)}</li>" for t, why in report.omitted]
        parts.append("</ul></section>")
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


_NUMBER_CELL = re.compile(r"^[-+]?\$?[0-9][0-9,]*(\.[0-9]+)?(e[-+]?[0-9]+)?"
                          r"( ?(%|[A-Za-zµ/]{1,12}( [A-Za-z/]{1,12})?))?$")


def _is_number(text: str) -> bool:
    """A numeric cell (a number with at most a short unit), right-aligned in tables."""
    return bool(_NUMBER_CELL.match(text.strip()))


SHORT_CELL = 16
"""Text cells up to this many characters (a device name, "no price") are kept on one line."""


def _td(text: str, column: int) -> str:
    esc = html.escape
    if _is_number(text) and column:
        return f'<td class="num">{esc(text)}</td>'
    if len(text) <= SHORT_CELL:
        return f'<td class="nw">{esc(text)}</td>'
    return f"<td>{esc(text)}</td>"


def _html_block(block: Block) -> str:
    esc = html.escape
    if isinstance(block, Paragraph):
        return f"<p>{esc(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
        body = "".join("<tr>" + "".join(_td(c, i) for i, c in enumerate(row)) + "</tr>"
                       for row in block.rows)
        caption = f'<p class="caption">{esc(block.caption)}</p>' if block.caption else ""
        return (f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}'
                f"</tbody></table></div>{caption}")
    assert isinstance(block, Plot)
    width, height = png_size(block.png)
    data = base64.b64encode(block.png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(block.caption)}" '
            f'width="{width}" height="{height}"><figcaption>{esc(block.caption)}</figcaption>'
            "</figure>")
