"""Lines the migration made too long are laid out as a formatter would; others stay."""

from __future__ import annotations

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
        '                        "DELETE FROM detections WHERE camera_id = :camera_id AND frame_id BETWEEN :a AND :b"',
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
    # a string longer than the line gets a line of its own, and stays whole
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
