"""The review comments: a site this codemod leaves for a person keeps a greppable
`# pgunify: review <reason>` at the end of its line (or of its compound statement's header),
next to any comment already there, and never twice.
"""

from __future__ import annotations

import libcst as cst

from .base import REVIEW_MARK, RepositoryPass


class Review(RepositoryPass):
    """Writes the comments _mark_review() asked for (base.py)."""

    def _review_header(self, original, updated):
        """The review comment of a compound statement goes at the end of its header line."""
        reason = self._review.get(id(original))
        if reason is None:
            return updated
        if isinstance(updated.body, cst.SimpleStatementSuite):  # `if x: return await ...` on one line
            trailing = updated.body.trailing_whitespace
            if trailing.comment is not None and REVIEW_MARK in trailing.comment.value:
                return updated
            text = f"{REVIEW_MARK} {reason}" if trailing.comment is None else f"{trailing.comment.value}  {REVIEW_MARK} {reason}"
            return updated.with_changes(body=updated.body.with_changes(trailing_whitespace=trailing.with_changes(
                whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(text))))
        if not isinstance(updated.body, cst.IndentedBlock):
            return updated
        header = updated.body.header
        if header.comment is not None and REVIEW_MARK in header.comment.value:
            return updated
        text = f"{REVIEW_MARK} {reason}" if header.comment is None else f"{header.comment.value}  {REVIEW_MARK} {reason}"
        header = header.with_changes(whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(text))
        return updated.with_changes(body=updated.body.with_changes(header=header))

    def _with_review_comment(self, node: cst.SimpleStatementLine, reason: str) -> cst.SimpleStatementLine:
        comment = node.trailing_whitespace.comment
        if comment is not None and REVIEW_MARK in comment.value:
            return node
        text = f"{REVIEW_MARK} {reason}"
        if comment is not None:
            text = f"{comment.value}  {text}"
        return node.with_changes(trailing_whitespace=node.trailing_whitespace.with_changes(
            whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(text)))
