"""The ADF → Markdown converter: every node and mark JIRA writes, and no text lost.

Each test checks the Markdown a reader would see (parsed back by an independent
CommonMark parser, markdown-it) and the invariant: every text leaf of the ADF appears
in the rendered text.
"""

from __future__ import annotations

from typing import Any

import pytest
from markdown_it import MarkdownIt

from pmb_console.jira.adf import Conversion, to_markdown
from tests.unit.adf_docs import (
    cell,
    doc,
    li,
    lost_leaves,
    p,
    realistic_description,
    rendered_text,
    row,
    t,
)

PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def convert(adf: Any, **kwargs: Any) -> Conversion:
    result = to_markdown(adf, **kwargs)
    assert lost_leaves(adf, result.markdown) == [], result.markdown
    return result


def md(adf: Any, **kwargs: Any) -> str:
    return convert(adf, **kwargs).markdown


def token_types(markdown: str) -> list[str]:
    types = []
    for token in PARSER.parse(markdown):
        types.append(token.type)
        types.extend(child.type for child in token.children or [])
    return types


# --- blocks ----------------------------------------------------------------------------


def test_paragraphs_are_separated_by_a_blank_line():
    assert md(doc(p(t("one")), p(t("two")))) == "one\n\ntwo"


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, 6])
def test_headings_keep_their_level(level):
    out = md(doc({"type": "heading", "attrs": {"level": level}, "content": [t("Title #1 #")]}))
    tokens = PARSER.parse(out)
    assert tokens[0].tag == f"h{level}"
    assert tokens[1].content.replace("\\", "") == "Title #1 #"  # a trailing # is not a closer
    assert rendered_text(out) == "Title #1 #"


def test_heading_without_a_level_is_a_first_level_heading():
    assert md(doc({"type": "heading", "content": [t("x")]})) == "# x"


def test_bullet_ordered_and_nested_lists():
    out = md(
        doc(
            {
                "type": "bulletList",
                "content": [
                    li(
                        p(t("fruit")),
                        {
                            "type": "orderedList",
                            "attrs": {"order": 3},
                            "content": [li(p(t("apple"))), li(p(t("pear")))],
                        },
                    ),
                    li(p(t("veg"))),
                ],
            },
        )
    )
    assert (
        md(
            doc(
                {
                    "type": "bulletList",
                    "content": [li(p(t("a")), {"type": "bulletList", "content": [li(p(t("b")))]})],
                }
            )
        )
        == "- a\n  - b"
    )
    assert out == "- fruit\n\n  3. apple\n  4. pear\n- veg"  # only "1." may interrupt a paragraph
    types = token_types(out)
    assert types.count("bullet_list_open") == 1 and types.count("ordered_list_open") == 1


def test_list_item_with_several_paragraphs_and_code():
    out = md(
        doc(
            {
                "type": "orderedList",
                "content": [
                    li(p(t("first")), p(t("more")), {"type": "codeBlock", "content": [t("x = 1")]}),
                ],
            }
        )
    )
    assert out == "1. first\n\n   more\n\n   ```\n   x = 1\n   ```"
    assert "fence" in token_types(out)


def test_code_block_keeps_its_language_and_survives_fences_inside():
    code = "print('```')\n````\nend"
    out = md(doc({"type": "codeBlock", "attrs": {"language": "python"}, "content": [t(code)]}))
    fence = PARSER.parse(out)[0]
    assert fence.type == "fence" and fence.info == "python"
    assert fence.content == code + "\n"


def test_code_block_language_cannot_break_the_fence():
    out = md(doc({"type": "codeBlock", "attrs": {"language": "c`` x"}, "content": [t("a")]}))
    assert PARSER.parse(out)[0].info == "cx"


def test_blockquote_with_several_blocks():
    out = md(doc({"type": "blockquote", "content": [p(t("said")), p(t("twice"))]}))
    assert out == "> said\n>\n> twice"
    assert token_types(out).count("blockquote_open") == 1


@pytest.mark.parametrize(
    "kind,label",
    [
        ("info", "Info"),
        ("note", "Note"),
        ("warning", "Warning"),
        ("error", "Error"),
        ("success", "Success"),
    ],
)
def test_panels_become_labelled_quotes(kind, label):
    out = md(doc({"type": "panel", "attrs": {"panelType": kind}, "content": [p(t("careful"))]}))
    assert out == f"> **{label}**\n>\n> careful"


def test_rule_and_hard_break():
    out = md(doc(p(t("a"), {"type": "hardBreak"}, t("b")), {"type": "rule"}, p(t("c"))))
    assert out == "a\\\nb\n\n---\n\nc"
    types = token_types(out)
    assert "hardbreak" in types and "hr" in types


def test_table_with_header_pipes_several_blocks_and_colspan():
    out = md(
        doc(
            {
                "type": "table",
                "content": [
                    row(
                        cell(p(t("Name")), header=True),
                        cell(p(t("Value")), header=True),
                        cell(p(t("Note")), header=True),
                    ),
                    row(
                        cell(p(t("a|b"))),
                        cell(
                            p(t("first")),
                            p(t("second")),
                            {"type": "bulletList", "content": [li(p(t("x"))), li(p(t("y")))]},
                        ),
                        cell(p(t("1|2"), t(" and "), t("c|d", "code"))),
                    ),
                    row(cell(p(t("wide")), colspan=2), cell(p(t("z")))),
                    row(cell(p(t("short")))),
                ],
            }
        )
    )
    tokens = PARSER.parse(out)
    assert tokens[0].type == "table_open"
    cells = [tok.content for tok in tokens if tok.type == "inline"]
    assert cells[:3] == ["Name", "Value", "Note"]
    assert cells[3] == "a\\|b" or "a|b" in rendered_text(out)
    assert len(cells) == 3 * 4  # every row padded to the header's width
    row2 = [tok for tok in tokens if tok.type == "inline"][4:6]
    assert "first<br>second<br>• x<br>• y" == row2[0].content
    code = [
        c for tok in tokens if tok.type == "inline" for c in tok.children if c.type == "code_inline"
    ]
    assert code[0].content == "c|d"


def test_table_without_header_row_still_renders_every_row():
    out = md(
        doc(
            {
                "type": "table",
                "content": [
                    row(cell(p(t("a"))), cell(p(t("b")))),
                    row(cell(p(t("c"))), cell(p(t("d")))),
                ],
            }
        )
    )
    assert out.splitlines()[1] == "| --- | --- |"
    assert rendered_text(out) == "a b c d"


def test_task_list_with_nested_tasks():
    out = md(
        doc(
            {
                "type": "taskList",
                "attrs": {"localId": "1"},
                "content": [
                    {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [t("write tests")]},
                    {
                        "type": "taskList",
                        "content": [
                            {
                                "type": "taskItem",
                                "attrs": {"state": "TODO"},
                                "content": [t("fuzz them")],
                            }
                        ],
                    },
                    {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [t("ship")]},
                ],
            }
        )
    )
    assert out == "- [x] write tests\n  - [ ] fuzz them\n- [ ] ship"


def test_decision_list():
    out = md(
        doc(
            {
                "type": "decisionList",
                "content": [
                    {
                        "type": "decisionItem",
                        "attrs": {"state": "DECIDED"},
                        "content": [t("use PostgreSQL")],
                    },
                    {
                        "type": "decisionItem",
                        "attrs": {"state": "UNDECIDED"},
                        "content": [t("which region")],
                    },
                ],
            }
        )
    )
    assert out == "- **Decided:** use PostgreSQL\n- **Decision:** which region"


def test_expand_sections_keep_their_title_and_content():
    out = md(
        doc(
            {
                "type": "expand",
                "attrs": {"title": "Logs *raw*"},
                "content": [
                    p(t("line")),
                    {
                        "type": "nestedExpand",
                        "attrs": {"title": "inner"},
                        "content": [p(t("deep"))],
                    },
                ],
            }
        )
    )
    assert out == "**Logs \\*raw\\***\n\nline\n\n**inner**\n\ndeep"


def test_media_becomes_its_file_name_and_a_placeholder_link():
    out = md(
        doc(
            {
                "type": "mediaSingle",
                "content": [
                    {
                        "type": "media",
                        "attrs": {"id": "abc-123", "type": "file", "alt": "trace_1.log"},
                    },
                    {"type": "caption", "content": [t("the trace")]},
                ],
            },
            {
                "type": "mediaGroup",
                "content": [{"type": "media", "attrs": {"id": "x9", "type": "file"}}],
            },
        )
    )
    assert out == "[trace\\_1.log](attachment:abc-123)\n\nthe trace\n\n[attachment](attachment:x9)"
    links = [
        c
        for tok in PARSER.parse(out)
        if tok.type == "inline"
        for c in tok.children
        if c.type == "link_open"
    ]
    assert [link.attrs["href"] for link in links] == ["attachment:abc-123", "attachment:x9"]


def test_block_and_inline_cards_are_links():
    out = md(
        doc(
            {"type": "blockCard", "attrs": {"url": "https://example.com/a b"}},
            p(
                t("see "),
                {"type": "inlineCard", "attrs": {"url": "https://jira.example.com/browse/PMB-1"}},
            ),
        )
    )
    assert (
        out
        == "[https://example.com/a b](<https://example.com/a b>)\n\nsee <https://jira.example.com/browse/PMB-1>"
    )


def test_layouts_render_their_columns_in_turn():
    out = md(
        doc(
            {
                "type": "layoutSection",
                "content": [
                    {"type": "layoutColumn", "attrs": {"width": 50}, "content": [p(t("left"))]},
                    {"type": "layoutColumn", "attrs": {"width": 50}, "content": [p(t("right"))]},
                ],
            }
        )
    )
    assert out == "left\n\nright"


# --- marks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mark,expected,token",
    [
        ("strong", "**b**", "strong_open"),
        ("em", "*b*", "em_open"),
        ("strike", "~~b~~", "s_open"),
        ("code", "`b`", "code_inline"),
        ("underline", "<ins>b</ins>", "html_inline"),
        ({"type": "subsup", "attrs": {"type": "sub"}}, "<sub>b</sub>", "html_inline"),
        ({"type": "subsup", "attrs": {"type": "sup"}}, "<sup>b</sup>", "html_inline"),
        (
            {"type": "link", "attrs": {"href": "https://x.example/p?q=1"}},
            "[b](https://x.example/p?q=1)",
            "link_open",
        ),
    ],
)
def test_each_mark(mark, expected, token):
    out = md(doc(p(t("a "), t("b", mark), t(" c"))))
    assert out == f"a {expected} c"
    assert token in token_types(out)


def test_text_colour_is_kept_as_text():
    out = md(doc(p(t("red", {"type": "textColor", "attrs": {"color": "#ff5630"}}))))
    assert out == "red"


def test_marks_combine_and_blanks_stay_outside_delimiters():
    out = md(
        doc(p(t(" bold it ", "strong", "em", {"type": "link", "attrs": {"href": "https://e.x"}})))
    )
    assert out == "[***bold it***](https://e.x)"
    assert {"strong_open", "em_open", "link_open"} <= set(token_types(out))


def test_code_mark_with_backticks_inside():
    out = md(doc(p(t("a `tick` b", "code"))))
    codes = [
        c.content
        for tok in PARSER.parse(out)
        for c in tok.children or []
        if c.type == "code_inline"
    ]
    assert codes == ["a `tick` b"]


def test_link_with_unsafe_scheme_keeps_text_and_is_reported():
    result = convert(doc(p(t("click", {"type": "link", "attrs": {"href": "javascript:alert(1)"}}))))
    assert result.markdown == "click"
    assert [(loss.node, loss.path) for loss in result.losses] == [
        ("link", "/doc/paragraph[0]/text[0]")
    ]


def test_unknown_mark_keeps_text_and_is_reported():
    result = convert(doc(p(t("x", {"type": "sparkle"}))))
    assert result.markdown == "x" and result.losses[0].node == "sparkle"


# --- inline nodes ----------------------------------------------------------------------


def test_mentions_use_the_pmbuddy_user_where_mapped_else_the_display_name():
    adf = doc(
        p(
            {"type": "mention", "attrs": {"id": "acc-1", "text": "@Ann Lee"}},
            t(" and "),
            {"type": "mention", "attrs": {"id": "acc-2", "text": "@Bob_Ray"}},
        )
    )
    assert md(adf, mentions={"acc-1": "ann@example.com"}) == "@ann@example.com and @Bob\\_Ray"
    assert rendered_text(md(adf)) == "@Ann Lee and @Bob_Ray"


def test_emoji_date_and_status():
    out = md(
        doc(
            p(
                {"type": "emoji", "attrs": {"shortName": ":tada:", "text": "🎉"}},
                t(" "),
                {"type": "emoji", "attrs": {"shortName": ":custom_one:"}},
                t(" "),
                {"type": "date", "attrs": {"timestamp": "1700000000000"}},
                t(" "),
                {"type": "status", "attrs": {"text": "DONE", "color": "green"}},
            )
        )
    )
    assert out == "🎉 :custom\\_one: 2023-11-14 `DONE`"


def test_unreadable_date_is_kept_and_reported():
    result = convert(doc(p({"type": "date", "attrs": {"timestamp": "tomorrow"}})))
    assert result.markdown == "tomorrow" and result.losses[0].node == "date"


def test_inline_media_and_placeholder():
    out = md(
        doc(
            p(
                t("see "),
                {"type": "mediaInline", "attrs": {"id": "m1", "alt": "a.pdf"}},
                {"type": "placeholder", "attrs": {"text": "Type here"}},
            )
        )
    )
    assert out == "see [a.pdf](attachment:m1)"


# --- text that looks like Markdown -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "# not a heading",
        "1. not a list",
        "- not a list",
        "+ neither",
        "> not a quote",
        "*not em*",
        "__not strong__",
        "`not code`",
        "[not](a link)",
        "<b>not html</b>",
        "a | b",
        "~~not struck~~",
        "&amp; stays",
        "back\\slash",
        "===",
        "---",
        "    not code",
        "line\n2) not a list\n# nor this",
        "```\nnot a fence",
        "![not](an image)",
        "<http://x.y>",
    ],
)
def test_text_that_looks_like_markdown_stays_text(text):
    out = md(doc(p(t(text))))
    types = token_types(out)
    assert (
        types.count("paragraph_open") == len([b for b in text.split("\n") if b.strip()])
        or types.count("paragraph_open") == 1
    )
    for syntax in (
        "heading_open",
        "bullet_list_open",
        "ordered_list_open",
        "blockquote_open",
        "em_open",
        "strong_open",
        "code_inline",
        "link_open",
        "html_inline",
        "s_open",
        "hr",
        "fence",
        "code_block",
        "image",
        "table_open",
    ):
        assert syntax not in types, (syntax, out)
    assert rendered_text(out) == " ".join(text.split())


def test_nul_characters_are_stripped():
    result = convert(doc(p(t("a\x00b")), {"type": "codeBlock", "content": [t("c\x00d")]}))
    assert "\x00" not in result.markdown and "ab" in result.markdown and "cd" in result.markdown


# --- what is not ADF, and what is unknown ----------------------------------------------


def test_unknown_node_is_flattened_to_its_text_and_reported_with_its_path():
    adf = doc(
        p(t("before")),
        {
            "type": "table",
            "content": [
                row(
                    cell(
                        {
                            "type": "bodiedExtension",
                            "attrs": {"extensionKey": "macro"},
                            "content": [p(t("inside the macro"))],
                        }
                    )
                )
            ],
        },
    )
    result = convert(adf)
    assert "inside the macro" in rendered_text(result.markdown)
    assert [(loss.path, loss.node) for loss in result.losses] == [
        ("/doc/table[1]/tableRow[0]/tableCell[0]/bodiedExtension[0]", "bodiedExtension")
    ]


def test_unknown_inline_node_keeps_its_text():
    result = convert(
        doc(p(t("a "), {"type": "sparkleNode", "content": [t("kept")], "attrs": {"text": "attr"}}))
    )
    assert result.markdown == "a kept attr"
    assert result.losses[0].path == "/doc/paragraph[0]/sparkleNode[1]"


def test_data_center_wiki_markup_is_kept_as_written():
    assert to_markdown("h1. Title\n*bold*\x00").markdown == "h1. Title\n*bold*"


@pytest.mark.parametrize(
    "adf",
    [
        None,
        {},
        [],
        3,
        {"type": "doc"},
        {"type": "doc", "content": "x"},
        {"type": "doc", "content": [None, 1, "s", {"type": "paragraph", "content": [3]}]},
    ],
)
def test_malformed_documents_never_raise(adf):
    assert isinstance(to_markdown(adf).markdown, str)


def test_deeply_nested_document_is_flattened_not_crashed():
    node: dict[str, Any] = p(t("bottom"))
    for _ in range(3000):
        node = {"type": "blockquote", "content": [node]}
    result = convert(doc(node))
    assert "bottom" in result.markdown and result.losses[0].detail.startswith("nested too deep")


def test_realistic_description_converts_without_losses():
    result = convert(
        realistic_description(), mentions={"5b10ac8d82e05b22cc7d4ef5": "jane@example.com"}
    )
    assert result.losses == ()
    types = token_types(result.markdown)
    for expected in (
        "heading_open",
        "bullet_list_open",
        "table_open",
        "fence",
        "blockquote_open",
        "link_open",
        "strong_open",
        "em_open",
        "code_inline",
    ):
        assert expected in types


def test_a_task_whose_first_block_is_a_table_starts_the_table_on_its_own_line():
    task = {
        "type": "taskItem",
        "attrs": {"state": "TODO"},
        "content": [{"type": "table", "content": [row(cell(p(t("a|b", "code"))))]}],
    }
    out = md(doc({"type": "taskList", "content": [task]}))
    assert out == "- [ ]\n\n  | `a\\|b` |\n  | --- |"
    assert "table_open" in token_types(out)


def test_carriage_returns_in_code_inside_a_list_stay_inside_the_item():
    code = {"type": "codeBlock", "content": [t("a\rb\r\nc")]}
    out = md(doc({"type": "bulletList", "content": [li(code)]}, p(t("after"))))
    assert out == "- ```\n  a\n  b\n  c\n  ```\n\nafter"


def test_an_exclamation_mark_before_a_link_does_not_make_it_an_image():
    out = md(doc(p(t("Wow!"), t("docs", {"type": "link", "attrs": {"href": "https://d.example"}}))))
    assert out == "Wow\\![docs](https://d.example)"
    assert "image" not in token_types(out) and "link_open" in token_types(out)


def test_code_spans_side_by_side_do_not_fuse():
    out = md(doc(p(t("a`", "code"), {"type": "status", "attrs": {"text": "DONE"}})))
    assert out == "`` a` `` `DONE`"
    codes = [
        c.content
        for tok in PARSER.parse(out)
        for c in tok.children or []
        if c.type == "code_inline"
    ]
    assert codes == ["a`", "DONE"]


def test_a_nul_before_a_line_break_in_marked_text_cannot_open_an_html_block():
    out = md(doc(p(t("\x00\r1", {"type": "subsup", "attrs": {"type": "sub"}}))))
    assert out == "<sub>1</sub>"
