"""ADF documents shaped like the ones JIRA Cloud returns, for the converter's tests."""

from __future__ import annotations

from typing import Any


def t(text: str, *marks: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [m if isinstance(m, dict) else {"type": m} for m in marks]
    return node


def p(*inline: Any) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def doc(*blocks: Any) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def li(*blocks: Any) -> dict[str, Any]:
    return {"type": "listItem", "content": list(blocks)}


def cell(*blocks: Any, header: bool = False, **attrs: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": "tableHeader" if header else "tableCell",
        "content": list(blocks),
    }
    if attrs:
        node["attrs"] = attrs
    return node


def row(*cells: Any) -> dict[str, Any]:
    return {"type": "tableRow", "content": list(cells)}


def realistic_description() -> dict[str, Any]:
    """A story as teams write them: context, criteria, a table, code, a panel, a mention."""
    return doc(
        {"type": "heading", "attrs": {"level": 2}, "content": [t("Context")]},
        p(
            t("Users on the "),
            t("billing", "strong"),
            t(" page see a stale total after "),
            t("applying a coupon", "em"),
            t(". See "),
            t(
                "the incident",
                {"type": "link", "attrs": {"href": "https://status.example.com/i/42"}},
            ),
            t(" and ask "),
            {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Jane Doe"}},
            t("."),
        ),
        {"type": "heading", "attrs": {"level": 3}, "content": [t("Acceptance criteria")]},
        {
            "type": "bulletList",
            "content": [
                li(p(t("Total refreshes within "), t("200 ms", "code"))),
                li(
                    p(t("Works for "), t("all", "strong", "em"), t(" currencies")),
                    {"type": "bulletList", "content": [li(p(t("EUR"))), li(p(t("USD")))]},
                ),
                li(p(t("No regression in "), t("checkout_v2", "code"), t(" flow"))),
            ],
        },
        {
            "type": "table",
            "content": [
                row(cell(p(t("Case")), header=True), cell(p(t("Expected")), header=True)),
                row(cell(p(t("coupon | 10%"))), cell(p(t("total - 10%")))),
                row(cell(p(t("no coupon"))), cell(p(t("unchanged")), p(t("(second line)")))),
            ],
        },
        {
            "type": "codeBlock",
            "attrs": {"language": "python"},
            "content": [t("def total(cart):\n    return sum(i.price for i in cart)\n")],
        },
        {
            "type": "panel",
            "attrs": {"panelType": "warning"},
            "content": [
                p(
                    t("Do not ship before the "),
                    {"type": "date", "attrs": {"timestamp": "1767225600000"}},
                    t(" freeze ends."),
                )
            ],
        },
        p(
            t("Status: "),
            {"type": "status", "attrs": {"text": "IN REVIEW", "color": "blue"}},
            t(" "),
            {"type": "emoji", "attrs": {"shortName": ":rocket:", "text": "🚀"}},
        ),
        {
            "type": "mediaSingle",
            "content": [
                {
                    "type": "media",
                    "attrs": {
                        "id": "4f1c-9a2b",
                        "type": "file",
                        "collection": "c",
                        "alt": "screenshot.png",
                    },
                }
            ],
        },
    )


# --- the invariant ---------------------------------------------------------------------

_MARKDOWN = None


def rendered_text(markdown: str) -> str:
    """The text a reader sees once the Markdown is rendered (CommonMark + GFM tables and
    strikethrough), by an independent parser, whitespace collapsed."""
    global _MARKDOWN
    if _MARKDOWN is None:
        from markdown_it import MarkdownIt

        # nesting deeper than the preset's 20 is a renderer limit, not lost text
        _MARKDOWN = MarkdownIt("commonmark", {"maxNesting": 200}).enable(["table", "strikethrough"])
    parts: list[str] = []
    for token in _MARKDOWN.parse(markdown):
        if token.type == "inline":
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    parts.append(child.content)
                elif child.type in ("softbreak", "hardbreak", "html_inline"):
                    parts.append(" ")
        elif token.type in ("fence", "code_block"):
            parts.append(token.content)
        parts.append(" ") if token.type.endswith("_close") or token.type == "inline" else None
    return collapse("".join(parts))


def collapse(text: str) -> str:
    return " ".join(text.replace("\x00", "").split())


def lost_leaves(adf: Any, markdown: str) -> list[str]:
    """Text leaves of the ADF that do not appear in the rendered Markdown."""
    from pmb_console.jira.adf import text_leaves

    seen = rendered_text(markdown)
    return [leaf for leaf in text_leaves(adf) if collapse(leaf) and collapse(leaf) not in seen]
