"""Large type for the LIVE banner: a 3×5 pixel font drawn with half blocks in 3 rows.

Only the letters the banner needs; anything else is drawn as a blank cell.
"""

from __future__ import annotations

_FONT = {
    "A": ("111", "101", "111", "101", "101"),
    "B": ("110", "101", "110", "101", "110"),
    "E": ("111", "100", "110", "100", "111"),
    "G": ("111", "100", "100", "101", "111"),
    "I": ("111", "010", "010", "010", "111"),
    "K": ("101", "101", "110", "101", "101"),
    "L": ("100", "100", "100", "100", "111"),
    "N": ("110", "101", "101", "101", "101"),
    "O": ("111", "101", "101", "101", "111"),
    "P": ("110", "101", "110", "100", "100"),
    "R": ("110", "101", "110", "101", "101"),
    "S": ("111", "100", "111", "001", "111"),
    "T": ("111", "010", "010", "010", "010"),
    "U": ("101", "101", "101", "101", "111"),
    "V": ("101", "101", "101", "101", "010"),
    "W": ("101", "101", "101", "111", "101"),
    "?": ("111", "001", "010", "000", "010"),
    " ": ("000", "000", "000", "000", "000"),
}

_HALF = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}


def big_text(text: str) -> str:
    """Three lines of half-block glyphs spelling `text` (upper-cased), letters 4 cells apart."""
    glyphs = [_FONT.get(ch, _FONT[" "]) for ch in text.upper()]
    rows = []
    for top in (0, 2, 4):
        cells = []
        for glyph in glyphs:
            upper = glyph[top]
            lower = glyph[top + 1] if top + 1 < 5 else "000"
            cells.append(
                "".join(_HALF[(a == "1", b == "1")] for a, b in zip(upper, lower, strict=True))
            )
        rows.append(" ".join(cells))
    return "\n".join(rows)


def big_width(text: str) -> int:
    return max(0, len(text) * 4 - 1)
