"""libcst's search for matcher-decorated methods, made once per class (pgunify.rewrite.matcher_scan)."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.matchers import _visitors

import pgunify.rewrite.imports  # noqa: F401 - installs the per-class search
from pgunify.rewrite import matcher_scan


def test_the_per_class_search_is_installed_once():
    for name in ("_gather_constructed_visit_funcs", "_gather_constructed_leave_funcs", "_gather_matchers"):
        search = getattr(_visitors, name)
        assert hasattr(search, "__wrapped__")
        assert not hasattr(search.__wrapped__, "__wrapped__")
    matcher_scan.install()  # a second call wraps nothing twice
    assert not hasattr(_visitors._gather_matchers.__wrapped__, "__wrapped__")


def test_a_class_without_decorated_methods_is_searched_once_and_still_works():
    context = CodemodContext()
    AddImportsVisitor(context)
    assert ("_gather_constructed_visit_funcs", AddImportsVisitor) in matcher_scan._found_nothing
    AddImportsVisitor.add_needed_import(context, "sqlalchemy", "text")
    tree = AddImportsVisitor(context).transform_module(cst.parse_module("import os\n"))
    assert tree.code == "import os\nfrom sqlalchemy import text\n"


class _Decorated(m.MatcherDecoratableTransformer):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    @m.call_if_inside(m.FunctionDef(name=m.Name("inner")))
    @m.visit(m.Name())
    def _name(self, node: cst.Name) -> None:
        self.seen.append(node.value)


def test_decorated_methods_are_found_for_every_instance():
    module = cst.parse_module("def inner():\n    x = y\n\ndef outer():\n    z = 1\n")
    for _ in range(3):  # each instance, not only the first, calls its decorated method
        visitor = _Decorated()
        module.visit(visitor)
        assert visitor.seen == ["inner", "x", "y"]
    assert ("_gather_constructed_visit_funcs", _Decorated) not in matcher_scan._found_nothing


def test_an_instance_holding_functions_of_its_own_is_searched():
    class Plain(m.MatcherDecoratableVisitor):
        pass

    Plain()
    assert ("_gather_constructed_visit_funcs", Plain) in matcher_scan._found_nothing

    class Holder(Plain):
        def __init__(self) -> None:
            self.callback = self._own
            super().__init__()

        def _own(self, node) -> None:
            pass

    calls = []
    original = _visitors._gather_constructed_visit_funcs.__wrapped__

    def counting(obj):
        calls.append(type(obj))
        return original(obj)

    wrapped = matcher_scan._once_per_class("_gather_constructed_visit_funcs", counting)
    wrapped(Holder())
    wrapped(Holder())
    assert calls == [Holder, Holder]
