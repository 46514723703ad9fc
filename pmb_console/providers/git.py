"""Reading a git checkout: does the release tag exist, and which commit does it name?"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pmb_console.errors import ProviderError


def _git(git_dir: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(Path(git_dir).expanduser()), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except FileNotFoundError:
        raise ProviderError(
            "git is not installed", "install git, or sign the item off by hand"
        ) from None
    except subprocess.TimeoutExpired:
        raise ProviderError(f"git in {git_dir} did not answer within 10 s") from None


def tag_commit(git_dir: str, tag: str) -> str | None:
    """The commit the tag points at, or None when the tag does not exist."""
    if not _git(git_dir, "rev-parse", "--git-dir").returncode == 0:
        raise ProviderError(
            f"{git_dir} is not a git checkout", "set [release] git_dir to the release checkout"
        )
    found = _git(git_dir, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    return found.stdout.strip() or None
