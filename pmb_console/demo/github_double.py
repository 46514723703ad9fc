"""A small stand-in for GitHub's REST API on 127.0.0.1, for the demo's release commit.

It answers the four calls the checklist's GitHub provider makes, in GitHub's shapes:
the merged pull request that holds the release commit, its approving review, and the
commit's CI (a combined status and check runs), all successful. Anything else answers
404 the way GitHub does. It needs no token and ignores one if sent.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from pmb_console.demo.http_server import DemoHTTPServer, DemoRequestHandler, send_json
from pmb_console.demo.release_repo import PullRequest

_NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest",
    "status": "404",
}


class GithubDouble:
    """Vouches for one commit of one repository: reviewed, merged, CI green."""

    def __init__(self, repo: str, commit: str | None, pull: PullRequest) -> None:
        self.repo = repo
        self.commit = commit
        """The release commit; None (no git) leaves nothing to vouch for."""
        self.pull = pull
        self._server: DemoHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the double first"
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> GithubDouble:
        self._server = DemoHTTPServer(0, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="demo-github",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._thread = None
        if server is not None:
            server.close()
        if thread is not None:
            thread.join(timeout=5)

    # --- the API -----------------------------------------------------------------------

    def handle(self, req: DemoRequestHandler) -> None:
        found = self.answer(urlsplit(req.path).path) if req.command == "GET" else None
        if found is None:
            send_json(req, 404, _NOT_FOUND)
        else:
            send_json(req, 200, found)

    def answer(self, path: str) -> Any:
        """GitHub's answer to GET `path`, or None for 404."""
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix + "/"):
            return None
        rest = path[len(prefix) :]
        if rest == f"/pulls/{self.pull.number}/reviews":
            return self._reviews()
        commit = f"/commits/{self.commit}/"
        if self.commit is None or not rest.startswith(commit):
            return None
        what = rest[len(commit) :]
        if what == "pulls":
            return self._pulls()
        if what == "status":
            return self._status()
        if what == "check-runs":
            return self._check_runs()
        return None

    def _pulls(self) -> list[dict[str, Any]]:
        pr = self.pull
        return [
            {
                "number": pr.number,
                "title": pr.title,
                "state": "closed",
                "html_url": f"https://github.com/{self.repo}/pull/{pr.number}",
                "user": {"login": pr.author},
                "merged_at": pr.merged_at,
                "merge_commit_sha": self.commit,
                "base": {"ref": "main"},
            }
        ]

    def _reviews(self) -> list[dict[str, Any]]:
        return [
            {
                "id": 1,
                "user": {"login": self.pull.reviewer},
                "state": "APPROVED",
                "body": "Looks good; the assignee filter is covered by tests.",
                "submitted_at": self.pull.merged_at,
            }
        ]

    def _status(self) -> dict[str, Any]:
        return {
            "state": "success",
            "sha": self.commit,
            "total_count": 1,
            "statuses": [
                {"context": "ci/lint", "state": "success", "description": "ruff and mypy passed"}
            ],
        }

    def _check_runs(self) -> dict[str, Any]:
        runs = [
            {"name": name, "status": "completed", "conclusion": "success", "head_sha": self.commit}
            for name in ("unit tests", "integration tests")
        ]
        return {"total_count": len(runs), "check_runs": runs}
