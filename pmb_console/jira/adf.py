"""ADF (Atlassian Document Format) → Markdown, without losing a word.

The one promise this module keeps: every text leaf of the document appears in the text
the Markdown renders to. Formatting that Markdown cannot hold (a text colour, an
unknown node, a nested table) is dropped *around* the text, never with it, and each
such loss is reported with the node's path so a migration can list it.

Two habits make the promise hold on hostile input:
- text is escaped so that nothing in it can become Markdown syntax (a line starting
  with "1." or "#", a stray "*", a "|" inside a table);
- the input is trusted for nothing: a node that is not a dict, a missing "content", a
  level that is not a number, a tree deeper than any editor writes — each is handled,
  so converting never raises.

Descriptions from JIRA Data Center are wiki-markup strings, not ADF: they are kept
as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_DEPTH = 32
"""Deeper subtrees are flattened to their text (no editor nests this far)."""


@dataclass(frozen=True)
class Loss:
    """Formatting that could not be kept; the text itself always is."""

    path: str
    """Where in the document, e.g. /doc/table[2]/tableRow[0]/tableCell[1]/extension[0]."""
    node: str
    """The node or mark type."""
    detail: str


@dataclass(frozen=True)
class Conversion:
    markdown: str
    losses: tuple[Loss, ...] = ()


def to_markdown(doc: Any, mentions: Mapping[str, str] | None = None) -> Conversion:
    """Convert one ADF document (or a wiki-markup string, kept as is). Never raises.

    `mentions` maps JIRA account ids to PM Buddy users; a mention of anyone else is
    written as the display name JIRA stored in the document.
    """
    if doc is None:
        return Conversion("")
    if isinstance(doc, str):
        return Conversion(doc.replace("\x00", ""))
    converter = _Converter(mentions or {})
    try:
        markdown = converter.document(doc)
    except Exception as exc:  # a bug here must not cost a description: keep its text
        markdown = _escape("\n\n".join(text_leaves(doc)))
        converter.lose(
            "/doc", "doc", f"converter error ({type(exc).__name__}); text kept unformatted"
        )
    return Conversion(markdown.replace("\x00", ""), tuple(converter.losses))


def text_leaves(node: Any) -> list[str]:
    """The text of every `text` node, in document order (iterative: any depth)."""
    leaves: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "text" and isinstance(item.get("text"), str):
                leaves.append(item["text"])
            content = item.get("content")
            if isinstance(content, list):
                stack.extend(reversed(content))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return leaves


# --- escaping --------------------------------------------------------------------------

# Characters that can start Markdown syntax anywhere in a line. Escaping them always is
# simpler to trust than deciding, case by case, when they would be harmless.
_INLINE_ESCAPES = str.maketrans({**{c: "\\" + c for c in "\\`*_[]<>|~&"}, "\r": "\n", "\x00": None})
# ...and those that matter only at the start of a line (headings, quotes, lists, setext).
_LINE_START = re.compile(r"^(?:(\d{1,9})([.)])|([#>+=-]))", re.M)
_LEADING_BLANKS = re.compile(r"^[ \t]+", re.M)
_TRAILING_BREAKS = re.compile(r"(?:\\\n)+$")
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp", "tel"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31}):")
_AUTOLINK_OK = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>`\x00-\x1f\x7f]*$")
_LANGUAGE = re.compile(r"[^\w+#.-]")
_BACKTICKS = re.compile(r"`+")


def _escape(text: str) -> str:
    text = text.translate(_INLINE_ESCAPES)
    # a "!" ending a piece of text would turn a link that follows it into an image
    return text[:-1] + "\\!" if text.endswith("!") else text


def _fix_line_start(m: re.Match[str]) -> str:
    return f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}"


_CLOSING_HASHES = re.compile(r"(^|[ \t])(#+)$")
_RISKY_FIRST = frozenset(" \t#>+=-0123456789")


def _escape_line_starts(markdown: str) -> str:
    if "\n" not in markdown and markdown[:1] not in _RISKY_FIRST:
        return markdown  # the common case, one line starting with a letter: no regex
    # leading blanks would turn a line into an indented code block
    return _LINE_START.sub(_fix_line_start, _LEADING_BLANKS.sub("", markdown))


def _code_span(text: str, in_cell: bool) -> str:
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\x00", "")
    if not text:
        return ""
    if in_cell:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " " and text.strip())
    return f"{fence} {text} {fence}" if pad else f"{fence}{text}{fence}"


def _destination(url: str) -> str:
    # a backtick in a destination could close a code span opened in the link text
    url = re.sub(r"[\x00-\x1f\x7f]", "", url).strip().replace("|", "%7C").replace("`", "%60")
    if not url or any(c in url for c in " ()<>"):
        return "<" + url.replace("\\", "\\\\").replace("<", "\\<").replace(">", "\\>") + ">"
    return url.replace("\\", "\\\\")


def _safe_url(url: str) -> bool:
    scheme = _SCHEME.match(url.strip())
    return scheme is None or scheme[1].lower() in _SAFE_SCHEMES


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _content(node: dict[str, Any]) -> list[Any]:
    content = node.get("content")
    return content if isinstance(content, list) else []


def _type(node: Any) -> str:
    if type(node) is dict:
        kind = node.get("type")
        return kind if type(kind) is str else "?"
    return type(node).__name__


def _str_attr(node: dict[str, Any], name: str) -> str:
    value = _attrs(node).get(name)
    return value if isinstance(value, str) else ""


INLINE_NODES = frozenset(
    {
        "text",
        "hardBreak",
        "mention",
        "emoji",
        "date",
        "status",
        "inlineCard",
        "mediaInline",
        "placeholder",
        "inlineExtension",
    }
)
_LISTS = frozenset({"bulletList", "orderedList", "taskList", "decisionList"})
_PANEL_LABELS = {
    "info": "Info",
    "note": "Note",
    "warning": "Warning",
    "error": "Error",
    "success": "Success",
    "tip": "Tip",
}
_MARK_ORDER = {
    "code": 0,
    "strike": 1,
    "em": 2,
    "strong": 3,
    "underline": 4,
    "subsup": 5,
    "textColor": 6,
    "backgroundColor": 6,
    "link": 9,
}


class _Converter:
    def __init__(self, mentions: Mapping[str, str]) -> None:
        self.mentions = mentions
        self.losses: list[Loss] = []
        self.in_cell = 0

    def lose(self, path: str, node: str, detail: str) -> None:
        self.losses.append(Loss(path, node, detail))

    # --- blocks ------------------------------------------------------------------------

    def document(self, doc: Any) -> str:
        if not isinstance(doc, dict):
            self.lose("/", _type(doc), "not an ADF document; its text kept")
            return _escape(" ".join(text_leaves(doc)))
        return "\n\n".join(self.blocks(_content(doc), "/doc", 1))

    def blocks(self, nodes: list[Any], path: str, depth: int) -> list[str]:
        return [text for _, text in self.kinded_blocks(nodes, path, depth)]

    def kinded_blocks(self, nodes: list[Any], path: str, depth: int) -> list[tuple[str, str]]:
        """Render block nodes as (node type, Markdown); runs of stray inline nodes
        (text straight inside a list item, say) become a paragraph."""
        out: list[tuple[str, str]] = []
        run: list[tuple[int, Any]] = []
        for index, node in enumerate(nodes):
            kind = _type(node)
            if kind in INLINE_NODES:
                run.append((index, node))
                continue
            if run:
                out.append(("paragraph", self.paragraph_of(run, path, depth)))
                run = []
            out.append((kind, self.block(node, f"{path}/{kind}[{index}]", depth, kind)))
        if run:
            out.append(("paragraph", self.paragraph_of(run, path, depth)))
        return [(kind, text) for kind, text in out if text]

    def block(self, node: Any, path: str, depth: int, kind: str = "") -> str:
        kind = kind or _type(node)
        if type(node) is not dict:
            self.lose(path, kind, "not a node; skipped")
            return ""
        if depth > MAX_DEPTH:
            self.lose(path, kind, "nested too deep; text kept unformatted")
            return self.flattened(node)
        render = _BLOCKS.get(kind)
        if render is None:
            return self.unknown(node, path)
        return render(self, node, path, depth)

    def paragraph_of(self, nodes: list[tuple[int, Any]], path: str, depth: int) -> str:
        if self.in_cell:
            return self.inline(nodes, path, depth, "cell")
        text = _escape_line_starts(self.inline(nodes, path, depth, "para"))
        # a hard break ending a paragraph would leave a lone backslash behind
        text = _TRAILING_BREAKS.sub("", text.rstrip(" \t\n")).strip("\n")
        return text if text.strip() else ""

    def paragraph(self, node: dict[str, Any], path: str, depth: int) -> str:
        return self.paragraph_of(list(enumerate(_content(node))), path, depth)

    def heading(self, node: dict[str, Any], path: str, depth: int) -> str:
        nodes = list(enumerate(_content(node)))
        text = self.inline(nodes, path, depth, "cell" if self.in_cell else "heading")
        if self.in_cell or not text.strip():
            return text
        level = _attrs(node).get("level")
        level = level if isinstance(level, int) and 1 <= level <= 6 else 1
        # text flattened into a heading may still end in " #", which would close it
        text = _CLOSING_HASHES.sub(lambda m: m[1] + "\\#" * len(m[2]), text.strip())
        return "#" * level + " " + text

    def code_block(self, node: dict[str, Any], path: str, depth: int) -> str:
        text = "".join(text_leaves(_content(node))).replace("\x00", "")
        # a lone CR ends a line in Markdown too; left bare, the indentation of a list
        # item would not follow it
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if self.in_cell:
            return "<br>".join(_code_span(line, True) for line in text.splitlines() if line.strip())
        text = text[:-1] if text.endswith("\n") else text
        language = _LANGUAGE.sub("", _str_attr(node, "language"))
        longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"{fence}{language}\n{text}\n{fence}"

    def quote(self, blocks: list[str]) -> str:
        if self.in_cell:
            return "<br>".join(blocks)
        lines = "\n\n".join(blocks).split("\n")
        return "\n".join("> " + line if line else ">" for line in lines)

    def blockquote(self, node: dict[str, Any], path: str, depth: int) -> str:
        return self.quote(self.blocks(_content(node), path, depth + 1))

    def panel(self, node: dict[str, Any], path: str, depth: int) -> str:
        label = _PANEL_LABELS.get(_str_attr(node, "panelType"), "Note")
        return self.quote([f"**{label}**", *self.blocks(_content(node), path, depth + 1)])

    def rule(self, node: dict[str, Any], path: str, depth: int) -> str:
        return self.stray(node, path, "" if self.in_cell else "---", block=True)

    def bullet_list(self, node: dict[str, Any], path: str, depth: int) -> str:
        return self.list_items(node, path, depth, lambda n: "-")

    def ordered_list(self, node: dict[str, Any], path: str, depth: int) -> str:
        start = _attrs(node).get("order")
        start = start if isinstance(start, int) and 0 <= start < 10**8 else 1
        return self.list_items(node, path, depth, lambda n: f"{start + n}.")

    def task_list(self, node: dict[str, Any], path: str, depth: int) -> str:
        def marker(item: Any) -> str:
            done = isinstance(item, dict) and _str_attr(item, "state") == "DONE"
            return "- [x]" if done else "- [ ]"

        return self.list_items(node, path, depth, None, marker)

    def decision_list(self, node: dict[str, Any], path: str, depth: int) -> str:
        def marker(item: Any) -> str:
            decided = isinstance(item, dict) and _str_attr(item, "state") == "DECIDED"
            return "- **Decided:**" if decided else "- **Decision:**"

        return self.list_items(node, path, depth, None, marker)

    def list_items(self, node, path, depth, numbered, marker_of=None) -> str:
        rendered: list[str] = []
        number = 0
        width = 2
        for index, item in enumerate(_content(node)):
            kind = _type(item)
            item_path = f"{path}/{kind}[{index}]"
            if kind in _LISTS and rendered:
                # a list directly inside a list (how ADF nests task lists): indent it
                # under the item before it
                nested = self.block(item, item_path, depth + 1)
                if nested:
                    rendered[-1] += "\n" + _indent(nested, width)
                continue
            marker = marker_of(item) if marker_of else numbered(number)
            number += 1
            first_kind, body = self.item_parts(item, item_path, depth + 1)
            if self.in_cell:
                rendered.append("• " + body.replace("\n", "<br>"))
            elif numbered is None and body and first_kind != "paragraph":
                # after "- [ ]" the item's text has begun: a table or a fence must start
                # its own line, apart from it
                rendered.append(marker + "\n\n" + _indent(body, 2))
            else:
                width = len(marker) + 1 if numbered else 2
                rendered.append(marker + (" " + _indent(body, width, first=False) if body else ""))
        return ("<br>" if self.in_cell else "\n").join(rendered)

    def item_body(self, item: Any, path: str, depth: int) -> str:
        return self.item_parts(item, path, depth)[1]

    def item_parts(self, item: Any, path: str, depth: int) -> tuple[str, str]:
        """(the type of the item's first block, the item's Markdown)."""
        if not isinstance(item, dict):
            self.lose(path, _type(item), "not a node; skipped")
            return "", ""
        kind = _type(item)
        if kind not in ("listItem", "taskItem", "decisionItem"):
            return kind, self.block(item, path, depth)
        parts = self.kinded_blocks(_content(item), path, depth)
        first_kind = parts[0][0] if parts else ""
        if self.in_cell:
            return first_kind, "<br>".join(text for _, text in parts)
        joined = parts[0][1] if parts else ""
        for (before, _), (kind, text) in zip(parts, parts[1:], strict=False):
            # a nested list right after its item's paragraph keeps the list tight, but
            # only a list that may interrupt a paragraph ("- x" or "1. x"; an empty "-"
            # would underline the paragraph into a heading)
            first = text.split("\n", 1)[0]
            tight = kind in _LISTS and before == "paragraph" and first.startswith(("- ", "1. "))
            joined += ("\n" if tight else "\n\n") + text
        return first_kind, joined

    def table(self, node: dict[str, Any], path: str, depth: int) -> str:
        if self.in_cell:
            self.lose(path, "table", "table inside a table cell; its text kept")
            return _escape(" ".join(text_leaves(node)))
        rows: list[list[str]] = []
        self.in_cell += 1
        try:
            for r, row in enumerate(_content(node)):
                row_path = f"{path}/{_type(row)}[{r}]"
                cells = _content(row) if _type(row) == "tableRow" else [row]
                rendered: list[str] = []
                for c, cell in enumerate(cells):
                    cell_path = f"{row_path}/{_type(cell)}[{c}]"
                    if _type(cell) in ("tableCell", "tableHeader"):
                        text = "<br>".join(self.blocks(_content(cell), cell_path, depth + 1))
                        span = _attrs(cell).get("colspan")
                        extra = span - 1 if isinstance(span, int) and 1 < span <= 64 else 0
                    else:
                        text = "<br>".join(self.blocks([cell], row_path, depth + 1))
                        extra = 0
                    rendered.append(text.replace("\r", "").replace("\n", "<br>"))
                    rendered.extend([""] * extra)
                rows.append(rendered)
        finally:
            self.in_cell -= 1
        if not rows:
            return ""
        width = max(1, max(len(row) for row in rows))
        lines = []
        for i, row in enumerate(rows):
            cells = row + [""] * (width - len(row))
            lines.append("| " + " | ".join(cells) + " |")
            if i == 0:
                lines.append("|" + " --- |" * width)
        return "\n".join(lines)

    def media_group(self, node: dict[str, Any], path: str, depth: int) -> str:
        parts = self.blocks(_content(node), path, depth + 1)
        return ("<br>" if self.in_cell else "\n\n").join(parts)

    def media(self, node: dict[str, Any], path: str, depth: int, block: bool = True) -> str:
        attrs = _attrs(node)
        name = next(
            (
                attrs[k]
                for k in ("alt", "fileName", "__fileName", "name")
                if isinstance(attrs.get(k), str) and attrs[k].strip()
            ),
            "",
        )
        url = _str_attr(node, "url")
        if url and _safe_url(url):
            target = _destination(url)
        else:
            target = "attachment:" + re.sub(r"[^\w.-]", "", _str_attr(node, "id") or "unknown")
        label = _escape(_one_line(name or "attachment"))
        return self.stray(node, path, f"[{label}]({target})", block)

    def caption(self, node: dict[str, Any], path: str, depth: int) -> str:
        return self.paragraph(node, path, depth)

    def card(self, node: dict[str, Any], path: str, depth: int) -> str:
        return self.stray(node, path, self.card_link(node, path), block=True)

    def expand(self, node: dict[str, Any], path: str, depth: int) -> str:
        title = _one_line(_str_attr(node, "title")).strip()
        heading = [f"**{_escape(title)}**"] if title else []
        parts = heading + self.blocks(_content(node), path, depth + 1)
        return ("<br>" if self.in_cell else "\n\n").join(parts)

    def container(self, node: dict[str, Any], path: str, depth: int) -> str:
        """Layouts and the like: their content, one block after another."""
        return ("<br>" if self.in_cell else "\n\n").join(
            self.blocks(_content(node), path, depth + 1)
        )

    def unknown(self, node: dict[str, Any], path: str) -> str:
        self.lose(path, _type(node), "unknown node; its text kept, its formatting dropped")
        return self.flattened(node)

    def flattened(self, node: Any) -> str:
        words = text_leaves(node)
        if isinstance(node, dict):
            words += [_str_attr(node, k) for k in ("text", "title", "url") if _str_attr(node, k)]
        text = _escape(" ".join(_one_line(w) for w in words))
        return text if self.in_cell else _escape_line_starts(text)

    def stray(self, node: dict[str, Any], path: str, rendered: str, block: bool = False) -> str:
        """A leaf node with content it should not have: keep that content's text too."""
        if "content" not in node:
            return rendered
        extra = text_leaves(_content(node))
        if not extra:
            return rendered
        self.lose(path, _type(node), "unexpected content inside a leaf node; its text kept")
        text = _escape(" ".join(_one_line(e) for e in extra))
        if block and not self.in_cell:
            return (rendered + "\n\n" + _escape_line_starts(text)).strip()
        return (rendered + " " + text).strip()

    # --- inline ------------------------------------------------------------------------

    def inline(self, nodes: list[tuple[int, Any]], path: str, depth: int, context: str) -> str:
        out: list[str] = []
        for index, node in _merge_texts(nodes):
            kind = _type(node)
            if kind == "text":
                out.append(self.text(node, path, index, context))
                continue
            node_path = f"{path}/{kind}[{index}]"
            render = _INLINES.get(kind)
            if render is not None and isinstance(node, dict):
                out.append(render(self, node, node_path, context))
            elif isinstance(node, dict) and kind in _BLOCKS and depth < MAX_DEPTH:
                self.lose(node_path, kind, "block node inside a paragraph; its text kept")
                out.append(self.flattened(node))
            elif isinstance(node, dict):
                out.append(self.unknown(node, node_path).replace("\n", " "))
            else:
                self.lose(node_path, kind, "not a node; skipped")
        for i in range(len(out) - 1, 0, -1):
            if out[i].startswith("`") and out[i - 1].endswith("`"):
                # two code spans side by side would fuse their backticks into one run
                out.insert(i, " ")
        return "".join(out)

    def text(self, node: dict[str, Any], parent: str, index: int, context: str) -> str:
        """A text node; its path is spelled out only when a loss must name it."""
        text = node.get("text")
        if type(text) is not str:
            text = ""
        elif "\x00" in text:  # gone before the blanks are measured, or "<sub>\x00\n" opens HTML
            text = text.replace("\x00", "")
        marks = node.get("marks")
        # one mark of each type: a link inside a link is no link at all
        kinds = (
            {_type(m): m for m in reversed(marks) if type(m) is dict} if type(marks) is list else {}
        )
        core = text.strip() if kinds else ""
        if not core:
            rendered = self.plain(text, context)
        else:
            # delimiters must touch the text: "** a **" is not bold, so blanks go outside
            start = text.index(core[0])
            lead, trail = text[:start], text[start + len(core) :]
            if "code" in kinds:
                body = _code_span(core, bool(self.in_cell))
            else:
                body = self.plain(core, context)
            for kind, mark in sorted(kinds.items(), key=lambda km: _MARK_ORDER.get(km[0], 8)):
                body = self.mark(mark, kind, body, f"{parent}/text[{index}]")
            rendered = self.plain(lead, context) + body + self.plain(trail, context)
        if "content" in node:
            return self.stray(node, f"{parent}/text[{index}]", rendered)
        return rendered

    def plain(self, text: str, context: str) -> str:
        text = _escape(text)
        if context == "heading":  # a trailing "#" would close the heading
            return text.replace("\n", " ").replace("#", "\\#")
        if context == "cell":
            return text.replace("\n", "<br>")
        return text

    def mark(self, mark: dict[str, Any], kind: str, body: str, path: str) -> str:
        if kind == "code":
            return body
        if kind == "strong":
            return f"**{body}**"
        if kind == "em":
            return f"*{body}*"
        if kind == "strike":
            return f"~~{body}~~"
        if kind == "underline":
            return f"<ins>{body}</ins>"
        if kind == "subsup":
            tag = "sup" if _str_attr(mark, "type") == "sup" else "sub"
            return f"<{tag}>{body}</{tag}>"
        if kind == "link":
            href = _str_attr(mark, "href")
            if not _safe_url(href):
                self.lose(path, "link", "link with an unsafe scheme dropped; its text kept")
                return body
            return f"[{body}]({_destination(href)})"
        if kind in ("textColor", "backgroundColor"):
            return body  # Markdown has no colours: the text stays, the colour goes
        self.lose(path, kind, "unknown mark dropped; its text kept")
        return body

    def hard_break(self, node: dict[str, Any], path: str, context: str) -> str:
        rendered = {"para": "\\\n", "heading": " ", "cell": "<br>"}[context]
        return self.stray(node, path, rendered)

    def mention(self, node: dict[str, Any], path: str, context: str) -> str:
        user = self.mentions.get(_str_attr(node, "id"))
        if user:
            name = user
        else:
            name = _str_attr(node, "text").lstrip("@") or _str_attr(node, "id")
            if not name:
                self.lose(path, "mention", "mention of an unknown user without a name")
                name = "unknown user"
        return self.stray(node, path, "@" + _escape(_one_line(name)))

    def emoji(self, node: dict[str, Any], path: str, context: str) -> str:
        glyph = _str_attr(node, "text") or _str_attr(node, "shortName")
        return self.stray(node, path, _escape(_one_line(glyph)))

    def date(self, node: dict[str, Any], path: str, context: str) -> str:
        stamp = _attrs(node).get("timestamp")
        try:
            day = datetime.fromtimestamp(int(stamp) / 1000, UTC).date().isoformat()  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError, OSError):
            self.lose(path, "date", f"unreadable date {str(stamp)[:40]!r} kept as written")
            day = _escape(str(stamp)) if stamp is not None else ""
        return self.stray(node, path, day)

    def status(self, node: dict[str, Any], path: str, context: str) -> str:
        return self.stray(node, path, _code_span(_str_attr(node, "text"), bool(self.in_cell)))

    def inline_card(self, node: dict[str, Any], path: str, context: str) -> str:
        return self.stray(node, path, self.card_link(node, path))

    def card_link(self, node: dict[str, Any], path: str) -> str:
        url = _str_attr(node, "url")
        if not url:
            data = _attrs(node).get("data")
            if isinstance(data, dict):
                url = next((data[k] for k in ("url", "name") if isinstance(data.get(k), str)), "")
        if not url:
            self.lose(path, _type(node), "card without a URL")
            return ""
        if not _safe_url(url):
            self.lose(path, _type(node), "card with an unsafe scheme: kept as text")
            return _escape(url)
        if _AUTOLINK_OK.match(url):
            return f"<{url}>"
        return f"[{_escape(url)}]({_destination(url)})"

    def media_inline(self, node: dict[str, Any], path: str, context: str) -> str:
        return self.media(node, path, 0, block=False)

    def placeholder(self, node: dict[str, Any], path: str, context: str) -> str:
        return self.stray(node, path, "")  # editor hint text, not content


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _indent(text: str, width: int, first: bool = True) -> str:
    pad = " " * width
    lines = text.split("\n")
    head = lines[0] if not first else (pad + lines[0] if lines[0] else "")
    return "\n".join([head] + [pad + line if line else "" for line in lines[1:]])


def _mergeable(node: Any) -> bool:
    return (
        type(node) is dict
        and node.get("type") == "text"
        and type(node.get("text")) is str
        and "content" not in node
    )


def _merge_texts(nodes: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Join neighbouring text nodes with the same marks (avoids "**a****b**")."""
    if len(nodes) < 2:
        return nodes
    merged: list[tuple[int, Any]] = []
    before_mergeable = False
    for index, node in nodes:
        mergeable = _mergeable(node)
        if mergeable and before_mergeable:
            first_index, before = merged[-1]
            if before.get("marks") == node.get("marks"):
                merged[-1] = (first_index, {**before, "text": before["text"] + node["text"]})
                continue
        merged.append((index, node))
        before_mergeable = mergeable
    return merged


_BLOCKS = {
    "paragraph": _Converter.paragraph,
    "heading": _Converter.heading,
    "codeBlock": _Converter.code_block,
    "blockquote": _Converter.blockquote,
    "panel": _Converter.panel,
    "rule": _Converter.rule,
    "bulletList": _Converter.bullet_list,
    "orderedList": _Converter.ordered_list,
    "taskList": _Converter.task_list,
    "decisionList": _Converter.decision_list,
    "listItem": lambda self, node, path, depth: self.item_body(node, path, depth + 1),
    "taskItem": lambda self, node, path, depth: self.item_body(node, path, depth + 1),
    "decisionItem": lambda self, node, path, depth: self.item_body(node, path, depth + 1),
    "table": _Converter.table,
    "mediaSingle": _Converter.media_group,
    "mediaGroup": _Converter.media_group,
    "media": _Converter.media,
    "caption": _Converter.caption,
    "blockCard": _Converter.card,
    "embedCard": _Converter.card,
    "expand": _Converter.expand,
    "nestedExpand": _Converter.expand,
    "layoutSection": _Converter.container,
    "layoutColumn": _Converter.container,
    "doc": _Converter.container,
}

_INLINES = {
    "hardBreak": _Converter.hard_break,
    "mention": _Converter.mention,
    "emoji": _Converter.emoji,
    "date": _Converter.date,
    "status": _Converter.status,
    "inlineCard": _Converter.inline_card,
    "mediaInline": _Converter.media_inline,
    "placeholder": _Converter.placeholder,
}
