"""libcst's matcher-decoratable visitors, searched for decorated methods once per class.

Each new instance of a libcst matcher-decoratable visitor or transformer (AddImportsVisitor,
RemoveImportsVisitor and the gatherers they create for every file) looks through all of its
attributes for methods decorated with matchers (`@m.visit`, `@m.call_if_inside`): well over
a thousand names, as every visit_ and leave_ method of libcst's visitors is one, at 10 to 25 ms
per instance, several instances per rewritten file. What the search finds depends on the
class alone unless the instance holds functions of its own; for the visitors pgunify runs it
is nothing. So a class whose first instance has no decorated method gives its later
instances the same empty answer without searching; any other class, or an instance with
functions of its own, is searched as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_SEARCHES = ("_gather_constructed_visit_funcs", "_gather_constructed_leave_funcs", "_gather_matchers")
_found_nothing: set[tuple[str, type]] = set()  # (search, class) whose instances have no decorated method


def _holds_functions(obj: object) -> bool:
    return any(callable(value) for value in getattr(obj, "__dict__", {}).values())


def _once_per_class(name: str, search: Callable[[object], dict]) -> Callable[[object], dict]:
    def gather(obj: object) -> dict[Any, Any]:
        key = (name, type(obj))
        if key in _found_nothing and not _holds_functions(obj):
            return {}
        found = search(obj)
        if not found and not _holds_functions(obj):
            _found_nothing.add(key)
        return found

    gather.__wrapped__ = search  # type: ignore[attr-defined]
    return gather


def install() -> None:
    """Put the per-class search in place of libcst's (once; a libcst without these
    functions is left as it is)."""
    try:
        from libcst.matchers import _visitors
    except ImportError:  # pragma: no cover - a libcst laid out differently
        return
    for name in _SEARCHES:
        search = getattr(_visitors, name, None)
        if callable(search) and not hasattr(search, "__wrapped__"):
            setattr(_visitors, name, _once_per_class(name, search))
