"""How a call's arguments become binds: their names, the bind dict laid out as the call was,
the rows of executemany(), the parameter tuple of exec_driver_sql()."""

from __future__ import annotations

import keyword

import libcst as cst

NO_SPACE_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def bind_name(arg: cst.BaseExpression, number: int) -> str:
    """A readable bind name taken from the argument (`alert_id`, `self.limit` -> `limit`)."""
    node = arg
    if isinstance(node, cst.Attribute):
        node = node.attr
    if isinstance(node, cst.Name):
        name = node.value.lstrip("_")
        if name.isidentifier() and not keyword.iskeyword(name) and name not in ("self", "cls"):
            return name
    return f"p{number}"


def parameter_tuple(values: list[cst.Arg]) -> cst.BaseExpression | None:
    """The positional parameters of exec_driver_sql(): `(a, b)`, `tuple(args)` for `*args`."""
    if not values:
        return None
    if len(values) == 1 and values[0].star:
        return cst.Call(cst.Name("tuple"), [cst.Arg(values[0].value)])
    elements = [cst.StarredElement(v.value) if v.star else cst.Element(v.value) for v in values]
    if len(elements) == 1:
        elements[0] = elements[0].with_changes(comma=cst.Comma())
    return cst.Tuple(elements)


def indent_of(args: list[cst.Arg]) -> str | None:
    """The indentation of a call's arguments when they stand one per line, else None."""
    for arg in args:
        if arg.comma is not cst.MaybeSentinel.DEFAULT and isinstance(arg.comma.whitespace_after, cst.ParenthesizedWhitespace):
            return arg.comma.whitespace_after.last_line.value
    return None


def bind_dict(pairs: list[tuple[str, cst.BaseExpression]], indent: str | None) -> cst.Dict:
    """{"name": value, ...}: on one line, or one bind per line when the call was laid out that way."""
    if indent is None or len(pairs) < 3:
        return cst.Dict([cst.DictElement(cst.SimpleString(f'"{name}"'), value) for name, value in pairs])

    def line_break(depth: str) -> cst.ParenthesizedWhitespace:
        return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), empty_lines=(), indent=True,
                                           last_line=cst.SimpleWhitespace(depth))

    inner = indent + "    "
    elements = [cst.DictElement(cst.SimpleString(f'"{name}"'), value,
                                comma=cst.Comma(whitespace_after=line_break(inner if i < len(pairs) - 1 else indent)))
                for i, (name, value) in enumerate(pairs)]
    return cst.Dict(elements, lbrace=cst.LeftCurlyBrace(whitespace_after=line_break(inner)))


def laid_out(original: list[cst.Arg], values: list[cst.BaseExpression]) -> list[cst.Arg]:
    """New arguments in the places (commas, line breaks) of the call's original ones."""
    args = []
    for index, value in enumerate(values):
        template = original[min(index, len(original) - 1)]
        args.append(cst.Arg(value=value, comma=template.comma, whitespace_after_arg=template.whitespace_after_arg))
    last = original[-1]
    args[-1] = args[-1].with_changes(comma=last.comma, whitespace_after_arg=last.whitespace_after_arg)
    return args



def bind_rows(numbers, sequence: cst.BaseExpression) -> cst.ListComp:
    """The rows of executemany() as bind dicts, one per row."""
    if isinstance(sequence, (cst.ListComp, cst.GeneratorExp)) and isinstance(sequence.elt, cst.Tuple) \
            and len(sequence.elt.elements) == len(numbers) and list(numbers) == list(range(1, len(numbers) + 1)) \
            and not any(isinstance(e, cst.StarredElement) for e in sequence.elt.elements):
        # rows written as a comprehension of tuples: the same comprehension, of binds
        return cst.ListComp(elt=bind_dict([(f"p{n}", e.value) for n, e in zip(numbers, sequence.elt.elements)], None),
                            for_in=sequence.for_in)
    element = cst.Name("values")
    return cst.ListComp(
        elt=bind_dict([(f"p{n}", cst.Subscript(element, [cst.SubscriptElement(cst.Index(cst.Integer(str(n - 1))))]))
                       for n in numbers], None),
        for_in=cst.CompFor(target=element, iter=sequence))
