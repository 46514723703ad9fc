"""A small JIRA REST client over httpx: issue search, field discovery, polite retries.

Cloud speaks REST v3: `GET /rest/api/3/search/jql` pages with `nextPageToken` until
`isLast`, and returns only issue ids unless the fields are named. Data Center speaks
REST v2: `GET /rest/api/2/search` pages with `startAt`. Both are hidden behind one
opaque *position* string, so a migration can save where it stopped and resume there.

JIRA rate-limits hard. On 429 or 503 the client waits as long as `Retry-After` (or
`X-RateLimit-Reset`) says; without either, and on network faults and gateway errors,
it backs off exponentially with jitter. Every wait is reported through `on_wait`, so
the operator sees "waiting" rather than a frozen counter.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from pmb_console.config import JiraConfig
from pmb_console.errors import ProviderError, UsageError
from pmb_console.redact import redact

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S = 60.0
MAX_HONOURED_WAIT_S = 900.0
"""A server asking for a longer pause than this is treated as an outage, not a limit."""

WaitFn = Callable[[float, str], None]


@dataclass(frozen=True)
class SearchPage:
    issues: list[dict[str, Any]]
    position: str
    """Where this page started ("" for the first page)."""
    next_position: str | None
    """Where the next page starts; None when this page is the last."""


@dataclass(frozen=True)
class FieldInfo:
    id: str
    name: str
    type: str = ""
    """The schema type JIRA reports (number, string, array, ...)."""

    @property
    def looks_like_story_points(self) -> bool:
        name = self.name.lower()
        return self.type in ("number", "") and ("point" in name or "estimate" in name)


@dataclass
class JiraClient:
    """One JIRA site. Raises ProviderError for every fault JIRA or the network makes,
    and UsageError when the config cannot work (no URL, no token)."""

    config: JiraConfig
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    on_wait: WaitFn = lambda seconds, reason: None
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None

    def __post_init__(self) -> None:
        cfg = self.config
        if not cfg.url:
            raise UsageError(
                "[jira] url is not set",
                "set it to the JIRA site, e.g. https://example.atlassian.net",
            )
        token = self.env.get(cfg.token_env, "") if cfg.token_env else ""
        if not token:
            raise UsageError(
                f"the JIRA token variable ${cfg.token_env or '(none)'} is not set",
                f"export {cfg.token_env or 'JIRA_API_TOKEN'}=... (an API token for cloud, a personal "
                "access token for datacenter), or name another variable in [jira] token_env",
            )
        headers = {"Accept": "application/json"}
        auth: httpx.Auth | None = None
        if cfg.flavor == "cloud":
            email = self.env.get(cfg.email_env, "") if cfg.email_env else ""
            if not email:
                raise UsageError(
                    f"the JIRA account email variable ${cfg.email_env or '(none)'} is not set",
                    f"export {cfg.email_env or 'JIRA_EMAIL'}=you@example.com (cloud signs in with email + API token)",
                )
            auth = httpx.BasicAuth(email, token)
        else:
            headers["Authorization"] = f"Bearer {token}"
        self.api = "/rest/api/3" if cfg.flavor == "cloud" else "/rest/api/2"
        self.http = httpx.Client(
            base_url=cfg.url.rstrip("/"),
            auth=auth,
            headers=headers,
            timeout=httpx.Timeout(cfg.timeout),
            transport=self.transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- search ----------------------------------------------------------------------

    def search_page(self, fields: Sequence[str], position: str = "") -> SearchPage:
        """One page of the configured JQL's issues, starting at `position`."""
        cfg = self.config
        params: dict[str, Any] = {
            "jql": cfg.jql,
            "maxResults": cfg.page_size,
            "fields": ",".join(fields),
        }
        if cfg.flavor == "cloud":
            if position:
                params["nextPageToken"] = position
            body = self.get(f"{self.api}/search/jql", params)
            issues = _list(body, "issues")
            token = body.get("nextPageToken")
            last = body.get("isLast", not token) or not token
            return SearchPage(issues, position, None if last else str(token))
        start = int(position or 0)
        params["startAt"] = start
        body = self.get(f"{self.api}/search", params)
        issues = _list(body, "issues")
        total = body.get("total")
        after = start + len(issues)
        last = not issues or (isinstance(total, int) and after >= total)
        return SearchPage(issues, position, None if last else str(after))

    def pages(self, fields: Sequence[str], start: str = "") -> Iterator[SearchPage]:
        """Every page from `start` to the last."""
        position: str | None = start
        while position is not None:
            page = self.search_page(fields, position)
            yield page
            if page.next_position == position:  # a server that never advances
                raise ProviderError(
                    "JIRA returned the same page position twice", "report this JIRA answer"
                )
            position = page.next_position

    # --- discovery -------------------------------------------------------------------

    def custom_fields(self) -> list[FieldInfo]:
        """Custom fields of the site (cloud pages /field/search; datacenter lists /field)."""
        found: list[FieldInfo] = []
        if self.config.flavor == "datacenter":
            body = self.get(f"{self.api}/field", {})
            values = body if isinstance(body, list) else []
            return [_field(v) for v in values if isinstance(v, dict) and v.get("custom")]
        start = 0
        while True:
            body = self.get(
                f"{self.api}/field/search", {"type": "custom", "startAt": start, "maxResults": 50}
            )
            values = _list(body, "values")
            found += [_field(v) for v in values]
            start += len(values)
            if body.get("isLast", True) or not values:
                return found

    # --- HTTP ------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        """GET with retries; returns the decoded JSON body."""
        where = f"{self.config.url.rstrip('/')}{path}"
        attempt = 0
        while True:
            try:
                response = self.http.get(path, params=params)
            except httpx.HTTPError as exc:
                if attempt >= self.config.max_retries:
                    raise ProviderError(
                        redact(f"JIRA at {where} did not answer: {type(exc).__name__}: {exc}"),
                        "check [jira] url and the network; the run can be resumed with --resume",
                    ) from None
                self._wait(self._backoff(attempt), f"network fault ({type(exc).__name__})")
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES:
                if attempt >= self.config.max_retries:
                    raise ProviderError(
                        f"JIRA kept answering HTTP {response.status_code} after {attempt} retries",
                        "wait for the rate limit to pass, then run again with --resume",
                    )
                told = retry_after(response.headers)
                if told is not None and told > MAX_HONOURED_WAIT_S:
                    raise ProviderError(
                        f"JIRA asks to wait {told:.0f} s before the next request (HTTP {response.status_code})",
                        "run again with --resume once the limit has passed",
                    )
                reason = "rate limited" if response.status_code == 429 else "JIRA unavailable"
                self._wait(
                    told if told is not None else self._backoff(attempt),
                    f"{reason} (HTTP {response.status_code})",
                )
                attempt += 1
                continue
            if response.is_success:
                try:
                    return response.json()
                except ValueError:
                    raise ProviderError(
                        f"JIRA answered {where} with something that is not JSON",
                        "check [jira] url: it must be the site's base URL",
                    ) from None
            raise _http_error(response, where, self.config)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(MAX_BACKOFF_S, 2.0**attempt)
        return ceiling / 2 + random.random() * ceiling / 2  # "equal jitter"

    def _wait(self, seconds: float, reason: str) -> None:
        self.on_wait(seconds, reason)
        self.sleep(seconds)
        self.on_wait(0.0, "")


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait: Retry-After (seconds or an HTTP date), else
    X-RateLimit-Reset (an ISO 8601 time, or epoch seconds). None when neither says."""
    now = now or datetime.now(UTC)
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - now).total_seconds())
        except (TypeError, ValueError):
            pass
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        reset = reset.strip()
        try:
            number = float(reset)
        except ValueError:
            try:
                when = datetime.fromisoformat(reset)
            except ValueError:
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - now).total_seconds())
        # a big number is a moment (epoch seconds), a small one a delay
        return max(0.0, number - now.timestamp()) if number > 1e9 else number
    return None


def _http_error(response: httpx.Response, where: str, cfg: JiraConfig) -> ProviderError:
    status = response.status_code
    said = _error_text(response)
    if status == 401:
        variables = (
            f"${cfg.email_env} and ${cfg.token_env}"
            if cfg.flavor == "cloud"
            else f"${cfg.token_env}"
        )
        return ProviderError(
            "JIRA refused the credentials (HTTP 401)",
            f"check {variables}: cloud needs an API token, not the password",
        )
    if status == 403:
        return ProviderError(
            f"JIRA forbids this account to read {where} (HTTP 403){said}",
            "ask a JIRA admin for browse permission on the project",
        )
    if status == 400:
        return ProviderError(
            f"JIRA rejected the request (HTTP 400){said}",
            "check [jira] jql (try it in JIRA's issue search) and story_points_field",
        )
    if status in (404, 410):
        return ProviderError(
            f"JIRA has no {where} (HTTP {status})",
            "check [jira] url and flavor (cloud uses REST v3, datacenter v2)",
        )
    return ProviderError(
        f"JIRA answered HTTP {status} for {where}{said}",
        "try again later; the run can be resumed with --resume",
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    messages = [str(m) for m in body.get("errorMessages") or [] if m]
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages += [f"{k}: {v}" for k, v in errors.items()]
    return (": " + "; ".join(messages))[:500] if messages else ""


def _list(body: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        raise ProviderError(
            f"JIRA answered with {type(body).__name__}, not an object",
            "check [jira] url and flavor",
        )
    values = body.get(key) or []
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _field(value: dict[str, Any]) -> FieldInfo:
    schema = value.get("schema")
    schema = schema if isinstance(schema, dict) else {}
    return FieldInfo(
        str(value.get("id", "")), str(value.get("name", "")), str(schema.get("type", ""))
    )
