"""libcst metadata resolved without the walks that compute nothing.

Parent nodes first, found without libcst's ParentNodeProvider.

The provider asks every node for its `children`, which libcst builds by running the node's
visit a second time; on a repository module that is about 60 ms, more than the parse. The
same map comes from reading each node's fields: a node's children are the nodes among its
fields, alone or in a sequence. The result is stored in the wrapper where libcst keeps the
provider's own, so visitors that declare ParentNodeProvider read it as if libcst had made it.

Expression contexts, scopes and positions are libcst's own, computed by libcst's own
providers, but without the batched walks through the whole tree in which those providers do
nothing (see resolve_scopes_and_positions).
"""

from __future__ import annotations

import functools

import libcst as cst
from libcst.metadata import (
    ExpressionContextProvider,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    ScopeProvider,
)

from pgunify.cst_fields import field_names


def parent_map(module: cst.Module) -> dict[cst.CSTNode, cst.CSTNode]:
    """Every node of the tree but the module, to the node that holds it."""
    parents: dict[cst.CSTNode, cst.CSTNode] = {}
    todo: list[cst.CSTNode] = [module]
    while todo:
        node = todo.pop()
        for name in field_names(type(node)):
            value = getattr(node, name)
            if isinstance(value, cst.CSTNode):
                parents[value] = node
                todo.append(value)
            elif isinstance(value, (tuple, list)):
                for item in value:
                    if isinstance(item, cst.CSTNode):
                        parents[item] = node
                        todo.append(item)
    return parents


def resolve_parents(wrapper: MetadataWrapper) -> None:
    """Give the wrapper its ParentNodeProvider metadata from `parent_map` (libcst's own is
    resolved instead where the wrapper does not keep its metadata as expected)."""
    resolved = getattr(wrapper, "_metadata", None)
    if isinstance(resolved, dict) and ParentNodeProvider not in resolved:
        resolved[ParentNodeProvider] = parent_map(wrapper.module)


@functools.cache
def _works_from_the_module(provider: type) -> bool:
    """Whether a batchable provider does all its work when it meets the module: libcst's
    ExpressionContextProvider and ScopeProvider run a visitor of their own from there, and the
    batched walk libcst makes for them through the rest of the tree does nothing."""
    return set(provider().get_visitors()) == {"visit_Module"}


def resolve_scopes_and_positions(wrapper: MetadataWrapper) -> None:
    """Give the wrapper expression contexts, scopes and positions (what the facts visitor and the
    repositories codemod read) without the walks through the whole tree in which no provider
    does anything: the batched walk of each provider above (see _works_from_the_module), and
    the one libcst makes with no batchable provider at all when it resolves PositionProvider
    alone. The metadata are the very ones libcst computes. Whatever the wrapper or a provider
    does not keep as expected is left to libcst, which resolves it when the visitor asks."""
    resolved = getattr(wrapper, "_metadata", None)
    if not isinstance(resolved, dict):
        return
    for provider_class in (ExpressionContextProvider, ScopeProvider):  # scopes need the contexts
        if provider_class in resolved:
            continue
        provider = provider_class()
        computed = getattr(provider, "_computed", None)
        if not isinstance(computed, dict) or not _works_from_the_module(provider_class):
            return
        with provider.resolve(wrapper):  # the provider's own dependencies, resolved above
            provider.visit_Module(wrapper.module)
        resolved[provider_class] = computed
    if PositionProvider not in resolved and hasattr(PositionProvider, "_gen"):
        resolved[PositionProvider] = PositionProvider()._gen(wrapper)  # as libcst resolves it
