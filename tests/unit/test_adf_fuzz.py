"""Fuzzed ADF: the converter never raises, and never loses a text leaf."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmb_console.jira.adf import to_markdown
from tests.unit.adf_docs import lost_leaves

BLOCK_TYPES = [
    "paragraph",
    "heading",
    "codeBlock",
    "blockquote",
    "panel",
    "rule",
    "bulletList",
    "orderedList",
    "listItem",
    "taskList",
    "taskItem",
    "decisionList",
    "decisionItem",
    "table",
    "tableRow",
    "tableCell",
    "tableHeader",
    "mediaSingle",
    "mediaGroup",
    "media",
    "caption",
    "blockCard",
    "embedCard",
    "expand",
    "nestedExpand",
    "layoutSection",
    "layoutColumn",
    "extension",
    "bodiedExtension",
    "someFutureNode",
]
INLINE_TYPES = [
    "hardBreak",
    "mention",
    "emoji",
    "date",
    "status",
    "inlineCard",
    "mediaInline",
    "placeholder",
    "inlineExtension",
    "someFutureInline",
]

# text with the characters Markdown cares about, blanks, newlines, and anything else
markdownish = st.text(
    alphabet=st.sampled_from(list("ab 1.#*_`~|[]()<>!&\\-+=:\n\t\r\x00")), max_size=12
)
text = st.one_of(markdownish, st.text(max_size=12))

marks = st.lists(
    st.one_of(
        st.sampled_from(
            ["strong", "em", "code", "strike", "underline", "textColor", "sparkle"]
        ).map(lambda kind: {"type": kind}),
        st.builds(lambda href: {"type": "link", "attrs": {"href": href}}, text),
        st.builds(
            lambda kind: {"type": "subsup", "attrs": {"type": kind}},
            st.sampled_from(["sub", "sup", "x"]),
        ),
    ),
    max_size=3,
)

attr_values = st.one_of(st.none(), st.integers(-(10**15), 10**15), text, st.booleans())
attrs = st.dictionaries(
    st.sampled_from(
        [
            "level",
            "order",
            "language",
            "panelType",
            "state",
            "id",
            "text",
            "url",
            "title",
            "timestamp",
            "shortName",
            "alt",
            "colspan",
            "href",
        ]
    ),
    attr_values,
    max_size=4,
)

text_nodes = st.builds(lambda s, m: {"type": "text", "text": s, "marks": m}, text, marks)
inline_nodes = st.one_of(
    text_nodes,
    st.builds(lambda k, a: {"type": k, "attrs": a}, st.sampled_from(INLINE_TYPES), attrs),
)


def _node(children: st.SearchStrategy[list[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda kind, a, content: {"type": kind, "attrs": a, "content": content},
        st.sampled_from(BLOCK_TYPES),
        attrs,
        children,
    )


nodes = st.recursive(
    inline_nodes,
    lambda inner: _node(st.lists(inner, max_size=4)),
    max_leaves=30,
)
documents = st.builds(
    lambda content: {"type": "doc", "version": 1, "content": content}, st.lists(nodes, max_size=5)
)

json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["type", "content", "attrs", "text", "marks"]), inner, max_size=4
        ),
    ),
    max_leaves=20,
)

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(documents)
def test_fuzzed_adf_converts_without_losing_a_text_leaf(adf):
    result = to_markdown(adf)
    assert not [loss for loss in result.losses if "converter error" in loss.detail]
    assert "\x00" not in result.markdown
    assert lost_leaves(adf, result.markdown) == [], result.markdown


@FUZZ
@given(json_values)
def test_arbitrary_json_never_raises(value):
    result = to_markdown(value)
    assert isinstance(result.markdown, str)
    assert not [loss for loss in result.losses if "converter error" in loss.detail]
