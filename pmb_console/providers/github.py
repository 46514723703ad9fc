"""GitHub's REST API over httpx: the pull requests, reviews and CI results of a commit."""

from __future__ import annotations

import os
from typing import Any

import httpx

from pmb_console.errors import ProviderError
from pmb_console.redact import redact


class GithubClient:
    def __init__(self, api_url: str, repo: str, token_env: str, timeout: float = 10.0) -> None:
        if not repo:
            raise ProviderError(
                "no GitHub repository configured", 'set [release.github] repo = "owner/name"'
            )
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        token = os.environ.get(token_env, "") if token_env else ""
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.repo = repo
        self.client = httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=timeout)

    def _get(self, path: str, **params: Any) -> Any:
        try:
            response = self.client.get(f"/repos/{self.repo}{path}", params=params or None)
        except httpx.HTTPError as exc:
            raise ProviderError(
                redact(f"GitHub did not answer: {exc}"),
                "check the network and [release.github] api_url",
            ) from None
        if response.status_code in (401, 403):
            raise ProviderError(
                f"GitHub refused {path} (HTTP {response.status_code})",
                "check the token named by [release.github] token_env and its scopes",
            )
        if response.status_code == 404:
            raise ProviderError(
                f"GitHub has no {self.repo}{path}",
                "check [release.github] repo and the token's access",
            )
        if response.status_code >= 400:
            raise ProviderError(f"GitHub answered HTTP {response.status_code} for {path}")
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"GitHub answered {path} with something that is not JSON") from None

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        return self._get(f"/commits/{sha}/pulls")

    def reviews(self, number: int) -> list[dict[str, Any]]:
        return self._get(f"/pulls/{number}/reviews", per_page=100)

    def combined_status(self, sha: str) -> dict[str, Any]:
        return self._get(f"/commits/{sha}/status")

    def check_runs(self, sha: str) -> list[dict[str, Any]]:
        return self._get(f"/commits/{sha}/check-runs", per_page=100).get("check_runs", [])

    def close(self) -> None:
        self.client.close()
