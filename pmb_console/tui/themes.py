"""Themes are data: TOML files turned into Textual themes.

Looked for in the package (`pmb_console/themes/`), then in `themes/` beside the config
file and in the working directory, so an operator can add one without touching the
install. A file that does not parse is reported, never fatal: the console falls back.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError
from textual.color import ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "pmb-dark"
PACKAGED_DIR = Path(__file__).resolve().parent.parent / "themes"

VARIABLE_DEFAULTS = {
    "blue-color": "#4C8DFF",
    "green-color": "#3FB950",
    "banner-production": "#B3261E",
    "banner-other": "#2F5FA8",
    "live-text": "#FFFFFF",
}
"""Console-specific CSS variables; every theme may override them."""


class ThemeFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dark: bool = True
    primary: str
    secondary: str | None = None
    accent: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    text_alpha: float = 0.95
    variables: dict[str, str] = {}
    marks: dict[str, str] = {"blue": "●", "green": "●"}
    """The shape drawn before each color's name."""
    console: dict[str, bool] = {}
    """Console switches: bold = true makes banners and labels bold."""

    def to_textual(self) -> Theme:
        return Theme(
            name=self.name,
            dark=self.dark,
            primary=self.primary,
            secondary=self.secondary,
            accent=self.accent,
            warning=self.warning,
            error=self.error,
            success=self.success,
            foreground=self.foreground,
            background=self.background,
            surface=self.surface,
            panel=self.panel,
            text_alpha=self.text_alpha,
            variables={**VARIABLE_DEFAULTS, **self.variables},
        )


class ThemeBook:
    """Every theme found, and the problems met on the way."""

    def __init__(self) -> None:
        self.themes: dict[str, ThemeFile] = {}
        self.problems: list[str] = []

    def load_dir(self, directory: Path) -> None:
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("*.toml")):
            self.load_file(path)

    def load_file(self, path: Path) -> None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            spec = ThemeFile.model_validate(data)
            spec.to_textual().to_color_system()  # bad colour strings fail here, not on screen
        except (
            OSError,
            tomllib.TOMLDecodeError,
            ValidationError,
            ValueError,
            ColorParseError,
        ) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.problems.append(f"theme file {path.name} ignored: {first}")
            return
        self.themes[spec.name] = spec

    def marks(self, name: str) -> dict[str, str]:
        spec = self.themes.get(name)
        return dict(spec.marks) if spec else {"blue": "●", "green": "●"}

    def bold(self, name: str) -> bool:
        spec = self.themes.get(name)
        return bool(spec and spec.console.get("bold"))


def load_theme_book(extra_dirs: list[Path]) -> ThemeBook:
    book = ThemeBook()
    book.load_dir(PACKAGED_DIR)
    seen = {PACKAGED_DIR}
    for directory in extra_dirs:
        directory = directory.resolve()
        if directory not in seen:
            seen.add(directory)
            book.load_dir(directory)
    return book
