"""Checks of a written report folder shared by the report tests (HTML parsed with the stdlib)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class ParsedPage:
    images: list[dict[str, str]] = field(default_factory=list)
    section_ids: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    """Attributes that would make the browser fetch something: src/href that is not data: or
    an in-page #anchor, scripts, stylesheets."""
    text: str = ""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ParsedPage()
        self._in_heading = False
        self._heading = ""
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.page.images.append(a)
        if tag == "section" and "id" in a:
            self.page.section_ids.append(a["id"])
        if tag in ("script", "iframe", "object", "embed"):
            self.page.external.append(f"<{tag}>")
        for attr in ("src", "href"):
            value = a.get(attr)
            if value is not None and not (value.startswith("data:") or value.startswith("#")):
                self.page.external.append(f"{tag} {attr}={value[:60]}")
        if tag in ("h1", "h2"):
            self._in_heading, self._heading = True, ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2") and self._in_heading:
            self.page.headings.append(self._heading.strip())
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self._heading += data
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self.page.text = " ".join(self._text)


def parse_html(text: str) -> ParsedPage:
    parser = _Parser()
    parser.feed(text)
    parser.close()
    return parser.page


def decode_data_png(src: str) -> bytes:
    """The PNG bytes of a ``data:image/png;base64,...`` URI (AssertionError otherwise)."""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), f"image is not an embedded PNG: {src[:40]!r}"
    data = base64.b64decode(src[len(prefix):], validate=True)
    assert data[:8] == PNG_SIGNATURE, "embedded image does not decode to a PNG"
    assert len(data) > 1000, f"embedded PNG is suspiciously small ({len(data)} bytes)"
    return data


def check_report_folder(folder: Path, required_sections: list[str]) -> ParsedPage:
    """Assert the folder holds a self-contained index.html and a report.md with its PNGs."""
    html_text = (folder / "index.html").read_text(encoding="utf-8")
    page = parse_html(html_text)
    assert page.external == [], f"index.html references outside resources: {page.external}"
    assert page.images, "index.html has no images"
    embedded = [decode_data_png(img["src"]) for img in page.images]
    for img in page.images:
        assert img.get("alt"), "every image needs alt text"
    missing = [s for s in required_sections if s not in page.section_ids]
    assert not missing, f"sections missing from index.html: {missing} (have {page.section_ids})"

    md = (folder / "report.md").read_text(encoding="utf-8")
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert refs, "report.md references no plots"
    for ref in refs:
        png = folder / ref
        assert png.is_file(), f"report.md references {ref}, which is not beside it"
        assert png.read_bytes()[:8] == PNG_SIGNATURE
    # the Markdown and the HTML carry the same plots
    assert sorted(embedded) == sorted((folder / r).read_bytes() for r in refs)
    md_headings = re.findall(r"^## (.+)$", md, flags=re.M)
    html_h2 = page.headings[1:]
    assert md_headings == html_h2, (md_headings, html_h2)
    return page
