"""Redaction of secrets in anything the console prints or records."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@"
)
_KV_PASSWORD = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|token|secret)\s*=\s*)(?P<val>'[^']*'|\S+)", re.I
)
_BEARER = re.compile(r"(?P<key>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """Hide passwords in URLs and key=value DSNs, and bearer/basic tokens."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m['key']}***", text)
    return _BEARER.sub(lambda m: f"{m['key']}***", text)
