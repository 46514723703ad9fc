"""The demo's release checkout: a small real git repository of PM Buddy, v1.1.0 tagged.

Two commits — v1.0.0 (what blue runs) and the merge of pull request #42 that makes
v1.1.0 (what green runs) — each with an annotated tag, written by a fixed identity at
fixed times, so the release commit is the same on every machine. The checklist reads it
the way it reads a production checkout ([release] git_dir), and the GitHub double
vouches for the same commit.

Speed: one `git fast-import` writes both commits and both tags, so the whole repository
costs three git processes (~15 ms on a 2-core machine) instead of the seven of
init/add/commit/tag (~20-30 ms). No git configuration of the user's or the system's is
read or written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = "pmbuddy/pm-buddy"
"""The repository's name on the GitHub double."""
RELEASE = "v1.1.0"
PREVIOUS = "v1.0.0"
AUTHOR = ("Dana Reyes", "dana@example.com")
TAGGER = ("PM Buddy releases", "releases@example.com")
PREVIOUS_AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
RELEASED_AT = datetime(2026, 11, 20, 9, 58, tzinfo=UTC)
"""When pull request #42 was merged: the release commit's time."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    author: str
    reviewer: str
    merged_at: str


RELEASE_PR = PullRequest(
    number=42,
    title="Issues: filter by assignee",
    author="dana-reyes",
    reviewer="sam-okafor",
    merged_at=RELEASED_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
)
"""The pull request whose merge is the release commit."""

_V100 = {
    "README.md": "# PM Buddy\n\nProjects, issues and boards for small teams.\n",
    "CHANGELOG.md": "# Changelog\n\n## v1.0.0\n- Projects, issues and boards.\n",
    "migrations/README.md": (
        "Schema changes after v1.0.0, one NNNN_name.sql each, applied in name order.\n"
    ),
    "pmbuddy/__init__.py": '__version__ = "1.0.0"\n',
    "pmbuddy/api.py": (
        "ROUTES = [\n"
        '    "GET /api/projects",\n'
        '    "GET /api/projects/{key}",\n'
        '    "GET /api/issues?project={key}",\n'
        '    "POST /api/issues",\n'
        "]\n"
    ),
}
_V110 = {
    "CHANGELOG.md": (
        "# Changelog\n\n## v1.1.0\n- Issues: filter by assignee (#42).\n\n"
        "## v1.0.0\n- Projects, issues and boards.\n"
    ),
    "pmbuddy/__init__.py": '__version__ = "1.1.0"\n',
    "pmbuddy/api.py": (
        "ROUTES = [\n"
        '    "GET /api/projects",\n'
        '    "GET /api/projects/{key}",\n'
        '    "GET /api/issues?project={key}&assignee={user}",\n'
        '    "POST /api/issues",\n'
        "]\n"
    ),
}


@dataclass(frozen=True)
class _Commit:
    message: str
    files: dict[str, str]
    """Paths added or changed, with their whole text."""
    tag: str
    at: datetime


_HISTORY = (
    _Commit(f"PM Buddy {PREVIOUS}", _V100, PREVIOUS, PREVIOUS_AT),
    _Commit(f"{RELEASE_PR.title} (#{RELEASE_PR.number})", _V110, RELEASE, RELEASED_AT),
)


def git_env() -> dict[str, str]:
    """A fixed identity and no user or system config: the same repository everywhere.

    Without HOME and with GIT_CONFIG_GLOBAL emptied, neither ~/.gitconfig nor the XDG
    one is read, so a broken or exotic config of the user's cannot change or stop it.
    """
    name, email = AUTHOR
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        # fast-import takes identities from its stream; these cover the reflog entries.
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def _data(text: str) -> str:
    return f"data {len(text.encode())}\n{text}\n"


def _ident(who: tuple[str, str], at: datetime) -> str:
    return f"{who[0]} <{who[1]}> {int(at.timestamp())} +0000"


def _stream() -> bytes:
    """The whole history as a fast-import stream, ending with the release commit's id."""
    out = []
    for mark, commit in enumerate(_HISTORY, start=1):
        out.append(f"commit refs/heads/main\nmark :{mark}\n")
        out.append(f"author {_ident(AUTHOR, commit.at)}\ncommitter {_ident(AUTHOR, commit.at)}\n")
        out.append(_data(commit.message))
        if mark > 1:
            out.append(f"from :{mark - 1}\n")
        for path, text in commit.files.items():
            out.append(f"M 100644 inline {path}\n{_data(text)}")
        # An annotated tag, a minute after its commit.
        tagged_at = commit.at + timedelta(minutes=1)
        out.append(f"\ntag {commit.tag}\nfrom :{mark}\ntagger {_ident(TAGGER, tagged_at)}\n")
        out.append(_data(f"PM Buddy {commit.tag}"))
    out.append(f"get-mark :{len(_HISTORY)}\n")  # prints the release commit's id
    return "".join(out).encode()


def create_release_repo(path: Path) -> str | None:
    """Create the checkout at `path`; return the release commit, or None without git.

    A missing git (or one that fails) must not stop the demo: the checklist then says
    what is wrong, the way it would for a production checkout.
    """
    if shutil.which("git") is None:
        return None
    env = git_env()

    def git(*args: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(
            ["git", "-C", str(path), *args],
            input=stdin,
            capture_output=True,
            env=env,
            timeout=10,
            check=True,
        )
        return done.stdout

    try:
        path.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--initial-branch=main", "--template=")
        sha = git("fast-import", "--quiet", stdin=_stream()).decode().strip()
        git("reset", "--quiet", "--hard")  # the release's files in the working tree
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(path, ignore_errors=True)
        return None
    return sha
