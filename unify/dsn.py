"""Database URLs: recognising them and showing them without their secrets.

Every place that prints, logs or stores a URL goes through `redact`, so a password
found in a default, a deployment file or an error message never leaves the tool.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"

_DB_SCHEMES = ("postgres", "postgresql", "asyncpg", "psycopg", "mysql", "mariadb", "sqlite", "oracle", "mssql")
# scheme://user:password@ — used only to mask passwords inside free text (messages, tracebacks).
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]*:)(?P<pw>[^@\s'\"]*)(?=@)")


def looks_like_database_url(value: str) -> bool:
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    return any(scheme == s or scheme.startswith(s + "+") for s in _DB_SCHEMES)


def redact(value: str) -> str:
    """Return `value` with any URL password replaced by ***."""
    if looks_like_database_url(value):
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            pass
        else:
            if url.password is None:
                return value
            return url.render_as_string(hide_password=True)
    return redact_text(value)


def redact_text(text: str) -> str:
    """Mask passwords of every URL embedded in free text."""
    return _USERINFO.sub(lambda m: m.group("head") + MASK, text)


def url_host(value: str) -> str | None:
    """Host of a database URL (None for a unix socket or an unparsable value)."""
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        return None
    if url.host:
        return url.host
    host = url.query.get("host")
    if isinstance(host, tuple):
        host = host[0] if host else None
    return host


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"})


def points_at_localhost(value: str) -> bool:
    host = url_host(value)
    return host is not None and host.lower() in LOCAL_HOSTS
