"""One report, two files: a self-contained HTML page and the same content in Markdown.

The report is built from plain data (:class:`Section`, :class:`Table`, :class:`Image`,
or the equivalent dicts), so a command can fill it from any run directory without
this module knowing their layouts. The HTML page embeds every image as a base64
``data:`` URI and carries its own CSS: it can be mailed or archived as one file. The
Markdown file references copies of the images in ``<stem>_files/`` next to it, so it
renders on a code-hosting site or in an editor.

Both files are written atomically (temporary file, then rename), so a report being
rewritten is never seen half-written.
"""

from __future__ import annotations

import base64
import html
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.runs.atomic import write_text

__all__ = ["Image", "Section", "Table", "format_value", "write_report"]

_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}


def format_value(value: Any) -> str:
    """How a table cell prints: thousands separators for counts, 2-4 significant decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        a = abs(value)
        if a >= 1e5:
            return f"{value:,.0f}"
        if a >= 100:
            return f"{value:.1f}"
        if a >= 1 or a == 0:
            return f"{value:.2f}"
        return f"{value:.4g}"
    return str(value)


@dataclass
class Table:
    """A table: column names, rows of values (formatted by :func:`format_value`), a caption."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""

    def __post_init__(self) -> None:
        self.columns = [str(c) for c in self.columns]
        rows = []
        for i, row in enumerate(self.rows):
            if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
                raise NasError(f"table rows[{i}]: expected a list of values, got {type(row).__name__}")
            if len(row) != len(self.columns):
                raise NasError(f"table rows[{i}]: {len(row)} values for {len(self.columns)} columns")
            rows.append(list(row))
        self.rows = rows

    @classmethod
    def from_records(
        cls, records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, caption: str = ""
    ) -> Table:
        """A table of dicts (e.g. a leaderboard); ``columns`` defaults to the keys in first-seen order."""
        if columns is None:
            seen: dict[str, None] = {}
            for r in records:
                seen.update(dict.fromkeys(r))
            columns = list(seen)
        return cls(list(columns), [[r.get(c) for c in columns] for r in records], caption)


@dataclass
class Image:
    """An image file (PNG, SVG, JPEG) and its caption."""

    path: str | Path
    caption: str = ""


@dataclass
class Section:
    """A titled part of the report: paragraphs, a preformatted block, tables, images, in that order."""

    title: str
    text: str = ""
    code: str = ""
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    @classmethod
    def from_data(cls, data: Section | Mapping[str, Any], where: str = "section") -> Section:
        """Accept a :class:`Section` or a dict with the same keys (tables and images as dicts too)."""
        if isinstance(data, Section):
            return data
        if not isinstance(data, Mapping):
            raise NasError(f"{where}: expected a Section or a dict, got {type(data).__name__}")
        unknown = set(data) - {"title", "text", "code", "tables", "images"}
        if unknown:
            raise NasError(
                f"{where}: unknown keys {', '.join(sorted(unknown))} (expected title, text, code, tables, images)"
            )
        if not isinstance(data.get("title"), str) or not data["title"].strip():
            raise NasError(f"{where}.title: expected a non-empty string")
        tables = []
        for i, t in enumerate(data.get("tables", [])):
            if isinstance(t, Table):
                tables.append(t)
            elif isinstance(t, Mapping) and "records" in t:
                tables.append(Table.from_records(t["records"], t.get("columns"), t.get("caption", "")))
            elif isinstance(t, Mapping):
                tables.append(Table(t.get("columns", []), t.get("rows", []), t.get("caption", "")))
            else:
                raise NasError(f"{where}.tables[{i}]: expected a Table or a dict with columns and rows")
        images = []
        for i, im in enumerate(data.get("images", [])):
            if isinstance(im, Image):
                images.append(im)
            elif isinstance(im, Mapping) and "path" in im:
                images.append(Image(im["path"], im.get("caption", "")))
            elif isinstance(im, (str, Path)):
                images.append(Image(im))
            else:
                raise NasError(f"{where}.images[{i}]: expected an Image, a path or a dict with 'path'")
        return cls(data["title"], data.get("text", ""), data.get("code", ""), tables, images)


def _slug(title: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
    slug, k = base, 2
    while slug in used:
        slug, k = f"{base}-{k}", k + 1
    used.add(slug)
    return slug


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def _check_image(image: Image) -> Path:
    p = Path(image.path)
    if not p.is_file():
        raise NasError(f"{p}: image not found")
    if p.suffix.lower() not in _MIME:
        raise NasError(f"{p}: expected an image ending in {', '.join(_MIME)}")
    return p


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 0;
       background: #f6f7f9; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: white; }
h1 { margin-top: 0; font-size: 1.7em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 2em; }
.subtitle { color: #666; margin-top: -0.6em; }
nav ul { columns: 2; padding-left: 1.2em; }
table { border-collapse: collapse; margin: 12px 0; font-size: 0.92em; }
th, td { border: 1px solid #d5d8dc; padding: 4px 9px; text-align: left; vertical-align: top; }
td { white-space: nowrap; } td.long { white-space: normal; overflow-wrap: anywhere; min-width: 18em; }
.table-wrap { overflow-x: auto; }
th { background: #eef1f4; } tr:nth-child(even) td { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; color: #555; font-style: italic; padding-bottom: 4px; }
figure { margin: 16px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f3f4f6; padding: 10px; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; }
"""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _html_table(t: Table) -> str:
    out = ['<div class="table-wrap"><table>']
    if t.caption:
        out.append(f"<caption>{html.escape(t.caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in t.columns) + "</tr></thead><tbody>")
    for row in t.rows:
        cells = ""
        for v in row:
            text = format_value(v)
            # Long unbroken text (genotype strings) may wrap anywhere; everything else stays on one line.
            cls = ' class="num"' if _is_number(v) else ' class="long"' if len(text) > 40 else ""
            cells += f"<td{cls}>{html.escape(text)}</td>"
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _md_cell(value: Any) -> str:
    return format_value(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _md_table(t: Table) -> str:
    out = [f"*{t.caption}*", ""] if t.caption else []
    out.append("| " + " | ".join(_md_cell(c) for c in t.columns) + " |")
    # Right-align a column only when all its values are numbers (a mixed column reads better left-aligned).
    numeric = [
        any(r[i] is not None for r in t.rows) and all(r[i] is None or _is_number(r[i]) for r in t.rows)
        for i in range(len(t.columns))
    ]
    out.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
    out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t.rows]
    return "\n".join(out)


def write_report(
    sections: Sequence[Section | Mapping[str, Any]],
    out_dir: str | Path,
    *,
    title: str = "NAS report",
    subtitle: str = "",
    stem: str = "report",
) -> tuple[Path, Path]:
    """Write ``out_dir/<stem>.html`` (self-contained) and ``out_dir/<stem>.md``; return both paths.

    Images are checked first, so a missing figure fails before anything is written.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stem):
        raise NasError(f"stem: expected a plain file name (letters, digits, _ . -), got {stem!r}")
    secs = [Section.from_data(s, f"sections[{i}]") for i, s in enumerate(sections)]
    images = {id(im): _check_image(im) for s in secs for im in s.images}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files_dir = out / f"{stem}_files"

    # Markdown copies of the images (unique names, in order of appearance).
    md_names: dict[int, str] = {}
    used_names: set[str] = set()
    for s in secs:
        for im in s.images:
            src = images[id(im)]
            try:
                md_names[id(im)] = src.resolve().relative_to(out.resolve()).as_posix()
                continue  # already next to the report
            except ValueError:
                pass
            name, k = src.name, 2
            while name in used_names:
                name, k = f"{src.stem}-{k}{src.suffix}", k + 1
            used_names.add(name)
            files_dir.mkdir(exist_ok=True)
            shutil.copyfile(src, files_dir / name)
            md_names[id(im)] = f"{files_dir.name}/{name}"

    slugs: set[str] = set()
    anchors = [_slug(s.title, slugs) for s in secs]
    h = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    md = [f"# {title}", ""]
    if subtitle:
        h.append(f'<p class="subtitle">{html.escape(subtitle)}</p>')
        md += [f"_{subtitle}_", ""]
    if len(secs) > 1:
        h.append(
            "<nav><ul>"
            + "".join(f'<li><a href="#{a}">{html.escape(s.title)}</a></li>' for s, a in zip(secs, anchors))
            + "</ul></nav>"
        )
    for s, anchor in zip(secs, anchors):
        h.append(f'<section id="{anchor}"><h2>{html.escape(s.title)}</h2>')
        md += [f"## {s.title}", ""]
        for para in _paragraphs(s.text):
            h.append(f"<p>{html.escape(para)}</p>")
            md += [para, ""]
        if s.code.strip():
            h.append(f"<pre>{html.escape(s.code.strip())}</pre>")
            md += ["```", s.code.strip(), "```", ""]
        for t in s.tables:
            h.append(_html_table(t))
            md += [_md_table(t), ""]
        for im in s.images:
            p = images[id(im)]
            data = base64.b64encode(p.read_bytes()).decode("ascii")
            alt = html.escape(im.caption or p.stem)
            cap = f"<figcaption>{html.escape(im.caption)}</figcaption>" if im.caption else ""
            h.append(f'<figure><img src="data:{_MIME[p.suffix.lower()]};base64,{data}" alt="{alt}">{cap}</figure>')
            md += [f"![{(im.caption or p.stem).replace(']', ')')}]({md_names[id(im)]})", ""]
            if im.caption:
                md += [f"*{im.caption}*", ""]
        h.append("</section>")
    h.append("</main></body></html>")
    html_path, md_path = out / f"{stem}.html", out / f"{stem}.md"
    write_text(html_path, "\n".join(h) + "\n")
    write_text(md_path, "\n".join(md).rstrip() + "\n")
    return html_path, md_path
