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
# Used only to mask passwords inside free text (messages, tracebacks, diff lines).
# scheme://user:password@host: the password runs to the last "@" of the word, since an
# unencoded "@" in a password is common and must not leave its tail visible.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]*:)(?P<pw>[^\s'\"]*)(?=@)")
# ...?password=secret& in a URL's query, which libpq and asyncpg accept too
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|sslpassword)=)(?P<pw>[^&#\s'\"]*)", re.IGNORECASE)
# libpq keyword form: "host=db user=app password=secret" (value bare or in single quotes)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>(?<![\w.])password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s'\",)]+)")
# password="secret" in code (a keyword argument or a setting given as a string literal)
_LITERAL_PASSWORD = re.compile(r"""(?P<head>\b(?:password|passwd|sslpassword)\s*=\s*)(?P<q>["'])(?P<pw>[^"'\n]+)(?P=q)""",
                               re.IGNORECASE)
# names of settings whose value is a secret however it is written (POSTGRES_PASSWORD=..., DB_PASS: ...)
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|(^|_)PASS($|_)|SECRET|TOKEN", re.IGNORECASE)
_LIBPQ_KEYWORD = re.compile(r"(?<![\w.])(?:host|hostaddr|dbname|user|port|sslmode)=[^\s=,()'\"]+(?=\s|$|['\"])")


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
                return redact_text(value)
            return redact_text(url.render_as_string(hide_password=True))
    return redact_text(value)


def redact_text(text: str) -> str:
    """Mask the passwords of every URL (user info and query) and libpq keyword DSN in free text."""
    text = _USERINFO.sub(lambda m: m.group("head") + MASK, text)
    text = _QUERY_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _LITERAL_PASSWORD.sub(lambda m: m.group("head") + m.group("q") + MASK + m.group("q"), text)
    if _LIBPQ_KEYWORD.search(text):
        text = _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return text


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
