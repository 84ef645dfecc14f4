"""Lines the migration made too long are laid out as a formatter would; others stay."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst

from pgunify.rewrite.wrapping import wrap_changed

OLD = textwrap.dedent('''
    class Repo:
        async def get(self, key, status, rows):
            async with self.pool.connect() as conn:
                return 1
''')


def wrapped(new: str, old: str = OLD, limit: int = 88) -> str:
    return wrap_changed(cst.parse_module(textwrap.dedent(new)), old, limit).code


def test_a_long_rewritten_call_is_opened_from_the_outside_in():
    out = wrapped('''
        class Repo:
            async def get(self, key, status, rows):
                async with self.pool.connect() as conn:
                    row = first_record(await conn.execute(text("SELECT id, name FROM cameras WHERE id = :p1"), {"p1": key}))
                    await conn.execute(text("UPDATE cameras SET status = :p1 WHERE id = :p2"), {"p1": status, "p2": key})
                    return 1
    ''')
    assert out == textwrap.dedent('''
        class Repo:
            async def get(self, key, status, rows):
                async with self.pool.connect() as conn:
                    row = first_record(
                        await conn.execute(
                            text("SELECT id, name FROM cameras WHERE id = :p1"), {"p1": key}
                        )
                    )
                    await conn.execute(
                        text("UPDATE cameras SET status = :p1 WHERE id = :p2"),
                        {"p1": status, "p2": key},
                    )
                    return 1
    ''')
    assert max(len(line) for line in out.splitlines()) <= 88
    assert wrapped(out, old=out) == out  # nothing new: nothing to do


def test_a_statement_spread_over_lines_is_laid_out_afresh():
    # the statement is read on one line, as a formatter reads it, then opened again
    out = wrapped('''
        class Repo:
            async def get(self, key, status, rows):
                async with self.pool.connect() as conn:
                    deleted = command_status(await conn.execute(
                        text("DELETE FROM detections WHERE camera_id = :camera_id AND frame_id BETWEEN :a AND :b"),
                        {"camera_id": key, "a": 1, "b": 2},
                    ), "DELETE")
                    return 1
    ''')
    expected = [
        "            deleted = command_status(",
        "                await conn.execute(",
        "                    text(",
        '                        "DELETE FROM detections WHERE camera_id = :camera_id "',
        '                        "AND frame_id BETWEEN :a AND :b"',
        "                    ),",
        '                    {"camera_id": key, "a": 1, "b": 2},',
        "                ),",
        '                "DELETE",',
        "            )",
    ]
    lines = out.splitlines()
    start = lines.index(expected[0])
    assert lines[start:start + len(expected)] == expected
    compile(out, "out.py", "exec")
    # a comment inside the brackets keeps the author's layout
    commented = '''
        class Repo:
            async def get(self, key, status, rows):
                async with self.pool.connect() as conn:
                    deleted = command_status(await conn.execute(  # the frames of one camera
                        text("DELETE FROM detections WHERE camera_id = :camera_id AND frame_id BETWEEN :a AND :b"),
                        {"camera_id": key, "a": 1, "b": 2},
                    ), "DELETE")
                    return 1
    '''
    assert wrapped(commented) == textwrap.dedent(commented)


def test_lines_the_migration_did_not_touch_stay_as_they_are():
    legacy = textwrap.dedent('''
        def report(rows):
            return format_the_report_with_a_very_long_function_name(rows, include_header=True, include_footer=True)
    ''')
    assert wrapped(legacy, old=legacy) == legacy
    # a string longer than the line, without a space to break at, gets a line of its own and stays whole
    long_string = 'x = text("' + "a" * 100 + '")\n'
    assert wrapped(long_string, old="") == 'x = text(\n    "' + "a" * 100 + '"\n)\n'


def test_an_untouched_statement_continued_over_lines_stays_even_beside_a_rewritten_one():
    # its continuation lines carry their own indentation: read as new, they would be
    # flattened and broken open, inside an f-string too, where a line break does not parse
    legacy = textwrap.dedent('''
        class Cog:
            async def show(self, bot, summation, evaluated):
                desc = f'**Prefix: ** "{bot.prefix}"\\n' \\
                       f'**Evaluation: **\\n{evaluated}\\n' \\
                       f'**Overall Confidence: ** `{summation / len(bot.prefix) * 100:.2f}% of the way there and more`'
                return await self.pool.fetch("SELECT * FROM prefixes WHERE bot_id = $1", bot.id)
    ''')
    migrated = legacy.replace(
        'return await self.pool.fetch("SELECT * FROM prefixes WHERE bot_id = $1", bot.id)',
        'return all_records(await conn.execute(text("SELECT * FROM prefixes WHERE bot_id = :id"), {"id": bot.id}))')
    out = wrapped(migrated, old=legacy)
    compile(out, "cog.py", "exec")
    assert out.split("return")[0] == migrated.split("return")[0]
    assert "all_records(\n" in out


def test_brackets_inside_an_f_string_are_never_opened():
    new = 'avatar = first_record(await conn.exec_driver_sql(f"SELECT {random.randrange(len(discord.enums.DefaultAvatar))} FROM avatars", (user.id,)))\n'
    out = wrapped(new, old="")
    compile(out, "m.py", "exec", flags=0x2000)  # PyCF_ALLOW_TOP_LEVEL_AWAIT
    assert 'f"SELECT {random.randrange(len(discord.enums.DefaultAvatar))} FROM avatars"' in out
    assert "(user.id,)" in out  # a one-item tuple keeps its comma tight


def _strings(code: str) -> list[str]:
    """The value of every string constant, implicit concatenations joined, as Python reads them."""
    return [n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_a_long_sql_string_is_split_before_its_clauses_into_the_same_value():
    new = '''
        class Repo:
            async def get(self, key, status, rows):
                async with self.pool.connect() as conn:
                    await conn.execute(text("DELETE FROM detection_records WHERE camera_id = :camera_id AND frame_id BETWEEN :first AND :last"), {"camera_id": key})
                    return 1
    '''
    out = wrapped(new)
    assert out == textwrap.dedent('''
        class Repo:
            async def get(self, key, status, rows):
                async with self.pool.connect() as conn:
                    await conn.execute(
                        text(
                            "DELETE FROM detection_records WHERE camera_id = :camera_id "
                            "AND frame_id BETWEEN :first AND :last"
                        ),
                        {"camera_id": key},
                    )
                    return 1
    ''')
    assert _strings(out) == _strings(textwrap.dedent(new))
    assert max(len(line) for line in out.splitlines()) <= 88
    assert wrapped(out, old=out) == out


def test_each_literal_of_a_concatenation_keeps_its_prefix_and_its_own_lines():
    new = '''
        async def load(conn, args):
            await execute_many(conn, text("INSERT INTO alerts (camera_id, alert_type, severity, message, metadata, created_at) " r"VALUES (:p1, :p2, :p3, :p4, :p5\\:\\:jsonb, COALESCE(:p6, now()))"), args)
    '''
    out = wrapped(new)
    assert out == textwrap.dedent('''
        async def load(conn, args):
            await execute_many(
                conn,
                text(
                    "INSERT INTO alerts (camera_id, alert_type, "
                    "severity, message, metadata, created_at) "
                    r"VALUES (:p1, :p2, :p3, :p4, :p5\\:\\:jsonb, COALESCE(:p6, now()))"
                ),
                args,
            )
    ''')
    assert _strings(out) == _strings(textwrap.dedent(new))


def test_a_string_assigned_or_among_other_arguments_gets_parentheses_of_its_own():
    new = '''
        COUNT_CAMERAS_SQL = r"SELECT COUNT(*) FROM cameras WHERE (:p1\\:\\:text IS NULL OR status = :p1)"
        LONGER_SQL = r"SELECT COUNT(*) FROM cameras WHERE (:p1\\:\\:text IS NULL OR status = :p1) AND name <> 'x' ORDER BY 1"


        async def count(conn, key):
            return await conn.exec_driver_sql("SELECT COUNT(*) FROM detection_records WHERE camera_id = $1 AND frame_id > 0 AND frame_id < $2", (key, 9))
    '''
    out = wrapped(new)
    assert out == textwrap.dedent('''
        COUNT_CAMERAS_SQL = (
            r"SELECT COUNT(*) FROM cameras WHERE (:p1\\:\\:text IS NULL OR status = :p1)"
        )
        LONGER_SQL = (
            r"SELECT COUNT(*) FROM cameras "
            r"WHERE (:p1\\:\\:text IS NULL OR status = :p1) AND name <> 'x' ORDER BY 1"
        )


        async def count(conn, key):
            return await conn.exec_driver_sql(
                (
                    "SELECT COUNT(*) FROM detection_records "
                    "WHERE camera_id = $1 AND frame_id > 0 AND frame_id < $2"
                ),
                (key, 9),
            )
    ''')
    assert _strings(out) == _strings(textwrap.dedent(new))
    assert wrapped(out, old=out) == out


def test_no_break_inside_an_escape_and_strings_that_stay_whole():
    escaped = 'x = text("SELECT \'\\N{EM SPACE}\\t\' AS a, b FROM detection_records WHERE camera_id = :camera_id AND frame_id = 1")\n'
    out = wrapped(escaped, old="")
    assert "\\N{EM SPACE}" in out and _strings(out) == _strings(escaped)
    assert max(len(line) for line in out.splitlines()) <= 88
    # triple-quoted strings and f-strings keep their author's text; a string whose line is as
    # its author wrote it stays too
    whole = [
        'x = text(f"SELECT * FROM detection_records WHERE camera_id = {key} AND frame_id BETWEEN :a AND :b")\n',
        'x = text("""SELECT * FROM detection_records WHERE camera_id = :key AND frame_id BETWEEN :a AND :b""")\n',
    ]
    for code in whole:
        assert wrapped(code, old="").count("SELECT * FROM detection_records WHERE camera_id") == 1, code
    authored = '    "SELECT * FROM detection_records WHERE camera_id = :camera_id AND frame_id BETWEEN :a AND :b",'
    out = wrapped(f"rows = all_records(\n{authored}\n    key,\n)\n", old=f"rows = fetch(\n{authored}\n    key,\n)\n")
    assert out == f"rows = all_records(\n{authored}\n    key,\n)\n"
