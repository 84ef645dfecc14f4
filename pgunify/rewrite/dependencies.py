"""The project's own dependency declaration gains SQLAlchemy 2 with its asyncio extra.

Migrated code imports the generated engine module, which needs `sqlalchemy[asyncio]>=2`.
The requirement goes where the project declares what it installs: `pyproject.toml`
(`[project].dependencies` or `[tool.poetry.dependencies]`), `setup.cfg` (`install_requires`),
`setup.py` (a literal `install_requires=[...]` of `setup()`), `Pipfile` (`[packages]`) and the
main requirements file. Each file is edited in place, one item added or one requirement
rewritten, so its layout and comments stay as they were (`setup.py` through libcst). A
`setup.py` that computes its list is not edited: the run says so.

A declaration that rules SQLAlchemy 2 out (`sqlalchemy==1.3.24`, `SQLAlchemy<1.4`) or a
library that only works with SQLAlchemy 1.x (asyncpgsa, gino, ...) stops the run: the
migrated application could not be installed next to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
import dataclasses
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pgunify.rewrite.outcome import Change, Changed, Manual, Risk

REQUIREMENT = "sqlalchemy[asyncio]>=2"
CODEMOD = "dependencies"

# libraries built on SQLAlchemy 1.x APIs that SQLAlchemy 2 removed: name -> (versions that need 1.x, why)
_NEEDS_SQLALCHEMY_1 = {
    "asyncpgsa": ("", "asyncpgsa compiles SQLAlchemy 1.x constructs and needs SQLAlchemy below 1.4"),
    "gino": ("", "gino is built on SQLAlchemy 1.3 and does not run on SQLAlchemy 2"),
    "sqlalchemy-aio": ("", "sqlalchemy-aio wraps SQLAlchemy 1.x engines and does not run on SQLAlchemy 2"),
    "databases": ("<0.8", "databases before 0.8 needs SQLAlchemy 1.4"),
}
_AUXILIARY = re.compile(r"dev|test|lint|doc|ci\b|bench|typ|style|format|check", re.I)
_SAMPLES_2 = ("2.0.0", "2.0.25", "2.0.50", "2.1.0", "2.5.0")
_SAMPLES_1 = ("0.9.0", "1.0.0", "1.3.24", "1.4.0", "1.4.54")


@dataclass
class Declarations:
    """What the run does to the project's dependency declarations."""

    changes: list[Changed]
    manual: list[Manual]
    notes: list[str]


# --------------------------------------------------------------------------- versions


def _versions(spec: SpecifierSet, at_least_2: bool) -> list[str]:
    found = list(_SAMPLES_2 if at_least_2 else _SAMPLES_1)
    for item in spec:
        try:
            version = Version(item.version.rstrip(".*"))
        except InvalidVersion:
            continue
        if (version >= Version("2")) == at_least_2:
            found.append(str(version))
    return found


def _admits(spec: SpecifierSet, at_least_2: bool) -> bool:
    return any(spec.contains(v, prereleases=True) for v in _versions(spec, at_least_2))


def _tightened(spec: SpecifierSet) -> str:
    """`spec` with its lower bounds below 2 replaced by >=2 (upper bounds kept)."""
    kept = []
    for item in sorted(spec, key=str):
        try:
            below_2 = Version(item.version.rstrip(".*")) < Version("2")
        except InvalidVersion:
            below_2 = False
        if item.operator in (">", ">=", "~=") and below_2:
            continue
        kept.append(str(item))
    return ",".join([">=2", *kept])


def _poetry_spec(text: str) -> SpecifierSet:
    """A Poetry constraint (^1.4, ~1.4, 1.4.0, *, >=1.4,<2) as a PEP 440 specifier set."""
    parts = []
    for piece in (p.strip() for p in text.replace(" ", "").split(",")):
        if piece in ("", "*"):
            continue
        if piece[0] in "^~" and not piece.startswith("~="):
            numbers = [int(n) for n in re.findall(r"\d+", piece)] or [0]
            upper = list(numbers[:2] if piece[0] == "~" and len(numbers) > 1 else numbers[:1])
            if piece[0] == "^":
                index = next((i for i, n in enumerate(numbers) if n), len(numbers) - 1)
                upper = numbers[:index + 1]
            upper[-1] += 1
            parts += [f">={'.'.join(map(str, numbers))}", f"<{'.'.join(map(str, upper))}"]
        elif piece[0].isdigit():
            parts.append(f"=={piece}")
        else:
            parts.append(piece)
    return SpecifierSet(",".join(parts))


# --------------------------------------------------------------------------- one requirement


@dataclass
class _Verdict:
    conflict: str = ""  # why SQLAlchemy 2 cannot be installed with it
    text: str | None = None  # the requirement rewritten (None: it is fine as it is)


def _judge(req: Requirement, written: str) -> _Verdict:
    name = canonicalize_name(req.name)
    if name in _NEEDS_SQLALCHEMY_1:
        versions, why = _NEEDS_SQLALCHEMY_1[name]
        if not versions or not _admits_beyond(req.specifier, versions):
            return _Verdict(f"{written.strip()}: {why}")
        return _Verdict()
    if name == "aiopg" and "sa" in req.extras:
        return _Verdict(f"{written.strip()}: aiopg's sa extension needs SQLAlchemy 1.x")
    if name != "sqlalchemy" or req.url:
        return _Verdict()
    if not _admits(req.specifier, True):
        return _Verdict(f"{written.strip()} rules out SQLAlchemy 2, which the migrated code needs")
    spec = str(req.specifier) if not _admits(req.specifier, False) else _tightened(req.specifier)
    if "asyncio" in req.extras and spec == str(req.specifier):
        return _Verdict()
    extras = sorted(req.extras | {"asyncio"})
    bare = written.split(";", 1)[0].strip()
    name_as_written = re.match(r"[A-Za-z0-9._-]+", bare).group(0)
    marker = ";" + written.split(";", 1)[1] if ";" in written else ""
    return _Verdict(text=f"{name_as_written}[{','.join(extras)}]{spec or '>=2'}{marker}")


def _admits_beyond(spec: SpecifierSet, old: str) -> bool:
    """Whether `spec` admits a version outside `old` (the versions that need SQLAlchemy 1.x)."""
    bound = Version(old.lstrip("<"))
    probes = [str(bound), f"{bound.major}.{bound.minor + 1}.0", f"{bound.major + 1}.0.0"]
    probes += [i.version for i in spec if _version_at_least(i.version, bound)]
    return any(spec.contains(v, prereleases=True) for v in probes)


def _version_at_least(text: str, bound: Version) -> bool:
    try:
        return Version(text.rstrip(".*")) >= bound
    except InvalidVersion:
        return False


def _parse(text: str) -> Requirement | None:
    try:
        return Requirement(text.strip())
    except InvalidRequirement:
        return None


# --------------------------------------------------------------------------- files


@dataclass
class _Edit:
    path: str
    new: str | None  # None: unchanged
    description: str = ""
    conflicts: tuple[tuple[int, str], ...] = ()  # (line, reason)
    declares: bool = False  # the file holds a dependency list
    note: str = ""  # what the run could not do here, for the person who runs it


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _tables(text: str) -> list[tuple[str, int, int]]:
    """TOML/INI sections as (name, start of body, end of body)."""
    headers = [(m.group(1).strip(), m.start(), m.end()) for m in re.finditer(r"(?m)^\s*\[([^\[\]\n]+)\]\s*(?:#.*)?$", text)]
    out = []
    for index, (name, start, end) in enumerate(headers):
        stop = headers[index + 1][1] if index + 1 < len(headers) else len(text)
        out.append((name.strip('"\''), end, stop))
    return out


def _string_items(text: str, start: int, stop: int) -> list[tuple[int, int, str]]:
    """The quoted strings between start and stop, comments skipped: (start, end, content)."""
    items = []
    for m in re.finditer(r"#[^\n]*|\"((?:[^\"\\\n]|\\.)*)\"|'([^'\n]*)'", text[start:stop]):
        if m.group(0).startswith("#"):
            continue
        content = m.group(1) if m.group(1) is not None else m.group(2)
        items.append((start + m.start() + 1, start + m.end() - 1, content))
    return items


def _array_end(text: str, open_bracket: int) -> int:
    depth, i = 0, open_bracket
    while i < len(text):
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i)
            if i < 0:
                return -1
        elif ch in "\"'":
            close = text.find(ch, i + 1)
            while close > 0 and ch == '"' and text[close - 1] == "\\":
                close = text.find(ch, close + 1)
            if close < 0:
                return -1
            i = close
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _list_edit(text: str, items: list[tuple[int, int, str]], open_bracket: int, close_bracket: int,
               path: str) -> _Edit:
    """A TOML array of requirement strings: conflicts, a rewrite in place, or one item added."""
    conflicts, replacement = [], None
    for start, end, content in items:
        req = _parse(content)
        if req is None:
            continue
        verdict = _judge(req, content)
        if verdict.conflict:
            conflicts.append((_line_of(text, start), verdict.conflict))
        elif canonicalize_name(req.name) == "sqlalchemy":
            replacement = (start, end, verdict.text)
    if conflicts:
        return _Edit(path, None, conflicts=tuple(conflicts), declares=True)
    if replacement is not None:
        start, end, new = replacement
        if new is None:
            return _Edit(path, None, declares=True)
        return _Edit(path, text[:start] + new + text[end:], f"{text[start:end]} becomes {new}", declares=True)
    quote = text[items[-1][0] - 1] if items else '"'
    entry = f"{quote}{REQUIREMENT}{quote}"
    body = text[open_bracket + 1:close_bracket]
    if "\n" in body:  # one item a line: a new line like the last one, after it
        if items:
            last_end = items[-1][1] + 1
            line_start = text.rfind("\n", 0, items[-1][0]) + 1
            indent = re.match(r"[ \t]*", text[line_start:]).group(0)
            after = text[last_end:]
            comma = re.match(r"[ \t]*,", after)
            if comma:
                insert_at = last_end + comma.end()
                prefix = ""
            else:
                insert_at, prefix = last_end, ","
            line_end = text.find("\n", insert_at)
            new_text = text[:insert_at] + prefix + text[insert_at:line_end] + f"\n{indent}{entry}," + text[line_end:]
        else:
            line_start = text.rfind("\n", 0, close_bracket) + 1
            indent = re.match(r"[ \t]*", text[line_start:]).group(0) + "    "
            new_text = text[:open_bracket + 1] + f"\n{indent}{entry}," + text[open_bracket + 1:]
    else:
        stripped = body.rstrip()
        if not stripped.strip():
            new_text = text[:open_bracket + 1] + entry + text[close_bracket:]
        else:
            sep = " " if stripped.endswith(",") else ", "
            at = open_bracket + 1 + len(stripped)
            new_text = text[:at] + sep + entry + text[at:]
    return _Edit(path, new_text, f"{REQUIREMENT} added to the dependencies", declares=True)


def _pyproject(root: Path) -> _Edit | None:
    path = root / "pyproject.toml"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    for name, start, stop in _tables(text):
        if name == "project":
            m = re.search(r"(?m)^\s*dependencies\s*=\s*\[", text[start:stop])
            if m:
                open_bracket = start + m.end() - 1
                close_bracket = _array_end(text, open_bracket)
                if close_bracket < 0:
                    return _Edit("pyproject.toml", None)
                items = _string_items(text, open_bracket + 1, close_bracket)
                return _list_edit(text, items, open_bracket, close_bracket, "pyproject.toml")
        if name == "tool.poetry.dependencies":
            return _poetry(text, start, stop, "pyproject.toml", "[tool.poetry.dependencies]")
    return _Edit("pyproject.toml", None)


def _poetry(text: str, start: int, stop: int, path: str, table: str) -> _Edit:
    """A TOML table of `name = "constraint"` or `name = {version = ..., extras = [...]}` lines
    (Poetry's dependencies, a Pipfile's packages)."""
    conflicts, found = [], None
    for m in re.finditer(r"(?m)^[ \t]*\"?([A-Za-z0-9._-]+)\"?[ \t]*=[ \t]*(.+?)[ \t]*(?:#.*)?$", text[start:stop]):
        name, value = canonicalize_name(m.group(1)), m.group(2)
        if name not in ("sqlalchemy", "aiopg", *_NEEDS_SQLALCHEMY_1):
            continue
        version = re.search(r"version\s*=\s*[\"']([^\"']*)[\"']", value) if value.startswith("{") else \
            re.fullmatch(r"[\"']([^\"']*)[\"']", value)
        extras = set(re.findall(r"[\"']([^\"']+)[\"']", re.search(r"extras\s*=\s*\[([^\]]*)\]", value).group(1))) \
            if "extras" in value else set()
        try:
            spec = _poetry_spec(version.group(1) if version else "*")
        except InvalidSpecifier:
            continue
        req = Requirement(m.group(1) + (f"[{','.join(sorted(extras))}]" if extras else "") + str(spec))
        verdict = _judge(req, f"{m.group(1)} = {value}")
        if verdict.conflict:
            conflicts.append((_line_of(text, start + m.start(1)), verdict.conflict))
        elif name == "sqlalchemy":
            found = (m, value, version, verdict, extras, spec)
    if conflicts:
        return _Edit(path, None, conflicts=tuple(conflicts), declares=True)
    if found is not None:
        m, value, version, verdict, extras, spec = found
        if verdict.text is None:
            return _Edit(path, None, declares=True)
        constraint = version.group(1) if version and not _admits(spec, False) else \
            re.search(r"(>=2.*?)(?:;|$)", verdict.text).group(1)
        listed = ", ".join(f'"{e}"' for e in sorted(extras | {"asyncio"}))
        new_value = f'{{version = "{constraint}", extras = [{listed}]}}'
        at = start + m.start(2)
        return _Edit(path, text[:at] + new_value + text[at + len(value):], f"{m.group(1)} = {value} becomes {new_value}",
                     declares=True)
    body = text[start:stop].rstrip()
    at = start + len(body)
    new_line = '\nsqlalchemy = {version = ">=2", extras = ["asyncio"]}'
    return _Edit(path, text[:at] + new_line + text[at:], f"{REQUIREMENT} added to {table}", declares=True)


def _pipfile(root: Path) -> _Edit | None:
    path = root / "Pipfile"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    for name, start, stop in _tables(text):
        if name == "packages":
            return _poetry(text, start, stop, "Pipfile", "[packages]")
    return _Edit("Pipfile", None)


def _setup_cfg(root: Path) -> _Edit | None:
    path = root / "setup.cfg"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    for name, start, stop in _tables(text):
        if name != "options":
            continue
        m = re.search(r"(?m)^install_requires[ \t]*=[ \t]*(.*)$", text[start:stop])
        if not m:
            break
        # the value: the rest of the line, then every more indented (or blank) line
        end = start + m.end()
        lines = []
        if m.group(1).strip():
            lines.append((start + m.start(1), start + m.end(1)))
        for cont in re.finditer(r"(?m)^([ \t]+)(\S.*)$|^[ \t]*$", text[end + 1:stop]):
            if cont.group(1) is None and cont.group(0).strip() == "":
                if cont.start() == len(text[end + 1:stop]):
                    break
                continue
            if cont.group(1) is None:
                break
            lines.append((end + 1 + cont.start(2), end + 1 + cont.end(2)))
            next_line = text.find("\n", end + 1 + cont.end(2))
            if next_line < 0 or next_line + 1 >= stop or not text[next_line + 1:next_line + 2].isspace():
                break
        conflicts, found = [], None
        for a, b in lines:
            content = text[a:b].split("#", 1)[0].strip()
            req = _parse(content)
            if req is None:
                continue
            verdict = _judge(req, content)
            if verdict.conflict:
                conflicts.append((_line_of(text, a), verdict.conflict))
            elif canonicalize_name(req.name) == "sqlalchemy":
                found = (a, a + len(content), verdict.text)
        if conflicts:
            return _Edit("setup.cfg", None, conflicts=tuple(conflicts), declares=True)
        if found is not None:
            a, b, new = found
            if new is None:
                return _Edit("setup.cfg", None, declares=True)
            return _Edit("setup.cfg", text[:a] + new + text[b:], f"{text[a:b]} becomes {new}", declares=True)
        if lines:
            last_a, last_b = lines[-1]
            line_start = text.rfind("\n", 0, last_a) + 1
            indent = text[line_start:last_a] if last_a != start + m.start(1) else "    "
            line_end = text.find("\n", last_b)
            line_end = len(text) if line_end < 0 else line_end
            new_text = text[:line_end] + f"\n{indent}{REQUIREMENT}" + text[line_end:]
        else:
            new_text = text[:end] + f"\n    {REQUIREMENT}" + text[end:]
        return _Edit("setup.cfg", new_text, f"{REQUIREMENT} added to install_requires", declares=True)
    return _Edit("setup.cfg", None)


def _setup_py(root: Path) -> _Edit | None:
    path = root / "setup.py"
    if not path.is_file():
        return None
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    text = path.read_text(encoding="utf-8")
    try:
        wrapper = MetadataWrapper(cst.parse_module(text))
    except cst.ParserSyntaxError:
        return _Edit("setup.py", None, note=f"setup.py does not parse: make sure it requires {REQUIREMENT}")
    positions = wrapper.resolve(PositionProvider)
    found: list[cst.Arg] = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            callee = node.func
            name = callee.value if isinstance(callee, cst.Name) else callee.attr.value if isinstance(
                callee, cst.Attribute) else ""
            if name == "setup":
                found.extend(a for a in node.args if a.keyword is not None and a.keyword.value == "install_requires")

    wrapper.module.visit(_Find())
    if not found:
        return _Edit("setup.py", None)
    value = found[0].value
    if len(found) > 1 or not isinstance(value, (cst.List, cst.Tuple)) or any(
            not isinstance(e, cst.Element) for e in value.elements):
        return _Edit("setup.py", None, declares=True, note=(
            f"setup.py builds install_requires in code pgunify does not edit: make sure it requires {REQUIREMENT} "
            "(a requirements file it reads was edited if there is one)"))
    conflicts, target, replacement = [], None, None
    for element in value.elements:
        if not isinstance(element.value, cst.SimpleString):
            continue
        content = element.value.evaluated_value
        req = _parse(content) if isinstance(content, str) else None
        if req is None:
            continue
        verdict = _judge(req, content)
        if verdict.conflict:
            conflicts.append((positions[element].start.line, verdict.conflict))
        elif canonicalize_name(req.name) == "sqlalchemy":
            target, replacement = element, verdict.text
    if conflicts:
        return _Edit("setup.py", None, conflicts=tuple(conflicts), declares=True)
    if target is not None:
        if replacement is None:
            return _Edit("setup.py", None, declares=True)
        old = target.value
        quote = old.quote
        new_list = value.deep_replace(old, old.with_changes(value=f"{old.prefix}{quote}{replacement}{quote}"))
        return _Edit("setup.py", wrapper.module.deep_replace(value, new_list).code,
                     f"{old.evaluated_value} becomes {replacement}", declares=True)
    quote = next((e.value.quote for e in value.elements if isinstance(e.value, cst.SimpleString)), '"')
    added = cst.SimpleString(f"{quote}{REQUIREMENT}{quote}")
    elements = list(value.elements)
    if not elements:
        new_elements = [cst.Element(added)]
    else:
        last = elements[-1]
        opening = value.lbracket if isinstance(value, cst.List) else value.lpar[0] if value.lpar else None
        after = opening.whitespace_after if opening is not None else None
        if isinstance(after, cst.ParenthesizedWhitespace):  # one item a line: a new line at the items' indent
            between = cst.Comma(whitespace_after=after.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[]))
        else:
            between = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        trailing = last.comma
        if isinstance(value, cst.Tuple) and not isinstance(trailing, cst.Comma):
            trailing = cst.MaybeSentinel.DEFAULT
        new_elements = [*elements[:-1], last.with_changes(comma=between), cst.Element(added, comma=trailing)]
    new_value = value.with_changes(elements=new_elements)
    closing = value.rbracket if isinstance(value, cst.List) else value.rpar[-1] if value.rpar else None
    if closing is not None and isinstance(closing.whitespace_before, cst.ParenthesizedWhitespace) and elements \
            and isinstance(between.whitespace_after, cst.ParenthesizedWhitespace):
        # a comment after the last item stays with that item, not with the one added after it
        comment = closing.whitespace_before.first_line
        new_elements[-2] = new_elements[-2].with_changes(comma=between.with_changes(
            whitespace_after=between.whitespace_after.with_changes(first_line=comment)))
        closed = closing.with_changes(whitespace_before=closing.whitespace_before.with_changes(
            first_line=cst.TrailingWhitespace()))
        new_value = value.with_changes(elements=new_elements, **(
            {"rbracket": closed} if isinstance(value, cst.List) else {"rpar": [*value.rpar[:-1], closed]}))
    new_module = wrapper.module.deep_replace(value, new_value)
    return _Edit("setup.py", new_module.code, f"{REQUIREMENT} added to install_requires", declares=True)


def _requirements_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(main requirements files, the others), pip-tools inputs in place of their outputs."""
    found = sorted(root.glob("requirements*.txt")) + sorted(root.glob("requirements/*.txt"))
    found += sorted(root.glob("requirements*.in")) + sorted(root.glob("requirements/*.in"))
    compiled = {p for p in found if p.suffix == ".txt" and p.with_suffix(".in") in found}
    candidates = [p for p in found if p not in compiled]
    # dev-requirements.txt, optional-requirements.txt: never the main list, but what they pin
    # is installed next to the application too, so a pin that rules SQLAlchemy 2 out counts
    prefixed = sorted({*root.glob("*[-_]requirements.txt"), *root.glob("*[-_]requirements.in")} - set(found))
    main = [p for p in candidates if not _AUXILIARY.search(p.stem)]
    preferred = [p for p in main if p.stem in ("requirements", "base", "main", "prod", "production", "common")]
    chosen = (preferred or main or candidates)[:1]
    # variants an image or a deployment installs instead (requirements-custom.txt), unless they
    # include the chosen file (-r requirements.txt) and so inherit the new line
    for variant in main:
        if variant in chosen or not chosen:
            continue
        try:
            lines = variant.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        included = any(line.strip().startswith(("-r", "--requirement")) and chosen[0].name in line for line in lines)
        if not included:
            chosen.append(variant)
    return chosen, [p for p in found if p not in chosen] + prefixed


def _requirements(root: Path, path: Path, edit: bool) -> _Edit:
    rel = path.relative_to(root).as_posix()
    text = path.read_text(encoding="utf-8")
    conflicts, found, hashed = [], None, False
    for m in re.finditer(r"(?m)^[^\n]*$", text):
        line = m.group(0)
        content = line.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if "--hash" in content:
            hashed = True
        content = content.split(" --", 1)[0].rstrip(" \\")
        if not content or content.startswith(("#", "-")):
            continue
        req = _parse(content)
        if req is None:
            continue
        verdict = _judge(req, content)
        if verdict.conflict:
            conflicts.append((_line_of(text, m.start()), verdict.conflict))
        elif canonicalize_name(req.name) == "sqlalchemy":
            a = m.start() + line.index(content)
            found = (a, a + len(content), verdict.text)
    if conflicts:
        return _Edit(rel, None, conflicts=tuple(conflicts), declares=True)
    if not edit:
        return _Edit(rel, None)
    if found is not None:
        a, b, new = found
        if new is None:
            return _Edit(rel, None, declares=True)
        if hashed:
            return _Edit(rel, None, conflicts=((_line_of(text, a), f"{rel} pins every package with hashes; "
                                                f"{text[a:b]} has to become {new} with its hashes"),), declares=True)
        return _Edit(rel, text[:a] + new + text[b:], f"{text[a:b]} becomes {new}", declares=True)
    if hashed:
        return _Edit(rel, None, conflicts=((0, f"{rel} pins every package with hashes; add {REQUIREMENT} with its "
                                            "hashes (pip-compile --generate-hashes)"),), declares=True)
    newline = "\r\n" if "\r\n" in text else "\n"
    new_text = text + ("" if not text or text.endswith("\n") else newline) + REQUIREMENT + newline
    return _Edit(rel, new_text, f"{REQUIREMENT} added", declares=True)


def _suggestion(reason: str) -> str | None:
    if "hashes" in reason:
        return None
    if "rules out SQLAlchemy 2" in reason:
        return f"require {REQUIREMENT} instead: the migrated code runs on SQLAlchemy 2's asyncio engine"
    return f"remove it, or move what uses it onto SQLAlchemy 2 first; then require {REQUIREMENT}"


def _declarations(root: Path, folder: Path) -> list[_Edit]:
    edits = [e for e in (_pyproject(folder), _setup_cfg(folder), _setup_py(folder), _pipfile(folder)) if e is not None]
    main, others = _requirements_files(folder)
    edits += [_requirements(folder, p, edit=True) for p in main]
    edits += [_requirements(folder, p, edit=False) for p in others]  # read for conflicts only
    if folder != root:  # paths relative to the project root
        prefix = folder.relative_to(root).as_posix()
        edits = [dataclasses.replace(e, path=f"{prefix}/{e.path}") for e in edits]
    return edits


def declare_sqlalchemy(root: Path, near: Path | None = None) -> Declarations:
    """The edits that make every main declaration of the project require SQLAlchemy 2's
    asyncio engine, or why it cannot. The declarations at the root, else the nearest ones
    above `near` (the engine module's folder: backend/requirements.txt)."""
    root = root.resolve()
    edits = _declarations(root, root)
    if not any(e.declares for e in edits) and near is not None:
        folder = near.resolve()
        while folder != root and folder.is_relative_to(root):
            found = _declarations(root, folder)
            if any(e.declares for e in found):
                edits += found
                break
            folder = folder.parent
    manual = [Manual(e.path, line, CODEMOD, reason, _suggestion(reason)) for e in edits for line, reason in e.conflicts]
    if manual:
        return Declarations([], manual, [])
    changes = []
    for e in edits:
        if e.new is None:
            continue
        old = (root / e.path).read_bytes()
        new = e.new.encode("utf-8")
        if new != old:
            changes.append(Changed(e.path, old, new, (Change(CODEMOD, 1, e.description + ": the migrated code runs "
                                                                "on SQLAlchemy 2's asyncio engine", Risk.SAFE),)))
    notes = [e.note for e in edits if e.note]
    if not any(e.declares for e in edits):
        notes.append(f"no dependency declaration found (pyproject.toml, setup.cfg, setup.py, Pipfile, requirements.txt): "
                     f"install {REQUIREMENT} wherever the application is installed")
    for change in changes:
        if change.path.endswith(".in"):
            notes.append(f"{change.path} changed: compile it again (pip-compile) for the pinned requirements")
    return Declarations(changes, manual, notes)


# --------------------------------------------------------------------------- asyncpg optional


def _requirement_names(lines: Iterable[str]) -> set[str]:
    names = set()
    for line in lines:
        req = _parse(line.split("#", 1)[0].strip())
        if req is not None:
            names.add(canonicalize_name(req.name))
    return names


def asyncpg_optional(root: Path) -> str | None:
    """Where the project declares asyncpg as optional (an extra, an optional requirements
    file) while its main dependencies leave it out, as a library that supports several
    databases does; None when asyncpg is a main dependency or nothing says either way."""
    import tomllib

    root = root.resolve()
    main: set[str] = set()
    optional: list[str] = []
    declared = False
    chosen, others = _requirements_files(root)
    for path in chosen:
        declared = True
        main |= _requirement_names(path.read_text(encoding="utf-8", errors="replace").splitlines())
    for path in others:  # what is installed beside the main list: optional-requirements.txt, extras
        stem = path.stem.replace("requirements", "")
        if "optional" in stem or "extra" in stem or not _AUXILIARY.search(stem):
            if "asyncpg" in _requirement_names(path.read_text(encoding="utf-8", errors="replace").splitlines()):
                optional.append(path.relative_to(root).as_posix())
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}
        project = data.get("project", {}) if isinstance(data.get("project"), dict) else {}
        if isinstance(project.get("dependencies"), list):
            declared = True
            main |= _requirement_names(str(d) for d in project["dependencies"])
        extras = project.get("optional-dependencies", {})
        if isinstance(extras, dict):
            optional += [f"pyproject.toml [project.optional-dependencies] {name}" for name, items in extras.items()
                         if isinstance(items, list) and "asyncpg" in _requirement_names(str(i) for i in items)]
        poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
        deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
        if isinstance(deps, dict):
            declared = True
            for name, spec in deps.items():
                if canonicalize_name(name) == "asyncpg" and isinstance(spec, dict) and spec.get("optional"):
                    optional.append("pyproject.toml [tool.poetry.dependencies] asyncpg (optional = true)")
                else:
                    main.add(canonicalize_name(name))
    setup = _setup_py(root)
    if setup is not None and setup.declares:
        declared = True
        main |= _setup_py_names(root)
    if not declared or "asyncpg" in main or not optional:
        return None
    return ", ".join(optional)


def _setup_py_names(root: Path) -> set[str]:
    import libcst as cst

    try:
        module = cst.parse_module((root / "setup.py").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, cst.ParserSyntaxError):
        return set()
    names: set[str] = set()
    for node in _walk(module):
        if isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value == "install_requires" \
                and isinstance(node.value, (cst.List, cst.Tuple)):
            names |= _requirement_names(e.value.evaluated_value for e in node.value.elements
                                        if isinstance(e, cst.Element) and isinstance(e.value, cst.SimpleString)
                                        and isinstance(e.value.evaluated_value, str))
    return names


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)
