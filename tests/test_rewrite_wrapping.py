"""Lines the migration made too long are laid out as a formatter would; others stay."""

from __future__ import annotations

import textwrap

import libcst as cst

from unify.rewrite.wrapping import wrap_changed

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


def test_strings_over_several_lines_get_lines_of_their_own():
    out = wrapped('''
        class Repo:
            async def get(self, key, status, rows):
                async with self.pool.connect() as conn:
                    await execute_many(conn, text("INSERT INTO alerts (camera_id, alert_type) "
                        "VALUES (:p1, :p2)"), [{"p1": values[0], "p2": values[1], "p3": values[2]} for values in rows])
                    return 1
    ''')
    expected = [
        "            await execute_many(",
        "                conn,",
        "                text(",
        '                    "INSERT INTO alerts (camera_id, alert_type) "',
        '                    "VALUES (:p1, :p2)"',
        "                ),",
    ]
    lines = out.splitlines()
    start = lines.index(expected[0])
    assert lines[start:start + len(expected)] == expected
    compile(out, "out.py", "exec")


def test_lines_the_migration_did_not_touch_stay_as_they_are():
    legacy = textwrap.dedent('''
        def report(rows):
            return format_the_report_with_a_very_long_function_name(rows, include_header=True, include_footer=True)
    ''')
    assert wrapped(legacy, old=legacy) == legacy
    # a string longer than the line gets a line of its own, and stays whole
    long_string = 'x = text("' + "a" * 100 + '")\n'
    assert wrapped(long_string, old="") == 'x = text(\n    "' + "a" * 100 + '"\n)\n'
