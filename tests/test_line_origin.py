"""Lines a codemod reports are those of the file on disk, also when an earlier codemod of the
run rewrote the file before it: pgunify.rewrite.line_origin, and the runner that uses it."""

from __future__ import annotations

import textwrap

from codemod_helpers import REPOSITORIES_PLAN, make_plan

from pgunify.rewrite.line_origin import LineOrigin
from pgunify.rewrite.outcome import Changed
from pgunify.rewrite.runner import transform_source
from pgunify.sql.columns import json_tables


def origins(old: str, new: str) -> list[int]:
    origin = LineOrigin(textwrap.dedent(old), textwrap.dedent(new))
    return [origin(line) for line in range(1, len(textwrap.dedent(new).splitlines()) + 1)]


def test_an_unchanged_module_keeps_every_line():
    text = "import json\n\n\ndef f(row):\n    return json.loads(row)\n"
    origin = LineOrigin(text, text)
    assert [origin(line) for line in range(6)] == [0, 1, 2, 3, 4, 5]


def test_code_moved_into_a_new_block_keeps_its_lines():
    assert origins('''\
        x = 1
        if x:
            y = 2
        z = 3
    ''', '''\
        with lock:
            x = 1
            if x:
                y = 2
        z = 3
    ''') == [1, 1, 2, 3, 4]


def test_lines_added_before_a_line_are_given_that_line():
    assert origins('''\
        import asyncpg

        from app.models import Item
    ''', '''\
        import asyncpg
        from sqlalchemy import text

        from app.db.raw_sql import first_record
        from app.models import Item
    ''') == [1, 2, 2, 3, 3]


def test_a_rewritten_line_is_given_the_replaced_line_it_shares_most_with():
    assert origins('''\
        async def page(self, sql, params, limit, offset):
            async with self.pool.acquire() as conn:
                total = await conn.fetchval(count_sql, *params)
                rows = await conn.fetch(sql, *params, limit, offset)
            return rows, total
    ''', '''\
        async def page(self, sql, params, limit, offset):
            async with self.pool.connect() as conn:
                total = first_value(await conn.exec_driver_sql(count_sql, tuple(params)))
                rows = all_records(
                    await conn.exec_driver_sql(sql, (*params, limit, offset))
                )
            return rows, total
    ''') == [1, 2, 3, 4, 4, 4, 5]


def test_lines_are_counted_as_python_counts_them():
    # a form feed inside a line ends no line for Python (str.splitlines() would break there)
    old = 's = "a\x0cb"\r\nx = 1\r\n'
    new = 's = "a\x0cb"\r\ny = 2\r\nx = 1\r\n'
    origin = LineOrigin(old, new)
    assert [origin(line) for line in (1, 2, 3)] == [1, 2, 2]


def test_a_line_past_the_end_is_the_last_line():
    assert LineOrigin("a = 1\nb = 2\n", "a = 1\nb = 2\nc = 3\n")(9) == 2


def test_a_later_codemod_reports_the_lines_of_the_file_on_disk():
    # `repositories` turns the asyncpg calls into the raw-SQL helpers and adds imports and
    # `async with` blocks; json-columns, which runs on that tree, still names the lines as
    # the file has them
    source = textwrap.dedent('''\
        import json

        import asyncpg


        def _to_item(row):
            return json.loads(row["data"])


        class Items:
            def __init__(self, pool: asyncpg.Pool):
                self.pool = pool

            async def get(self, item_id):
                row = await self.pool.fetchrow("SELECT id, data FROM items WHERE id = $1", item_id)
                return _to_item(row)

            async def search(self, where):
                async with self.pool.acquire() as conn:
                    rows = await conn.fetch("SELECT id, data FROM items WHERE " + where)
                return [_to_item(r) for r in rows]
    ''')
    plan = make_plan(**REPOSITORIES_PLAN,
                     json_tables=json_tables(["CREATE TABLE items (id BIGSERIAL PRIMARY KEY, data JSONB NOT NULL);"]))
    outcome = transform_source(source.encode(), "/app/app/items.py", "app/items.py", plan,
                               ("repositories", "json-columns"))
    assert isinstance(outcome, Changed)
    assert outcome.new.decode().splitlines()[6].strip() != 'return json.loads(row["data"])'  # the lines moved
    assert [(item.line, item.reason) for item in outcome.left_alone if item.codemod == "json-columns"] == [
        (7, ("the statement at line 20 cannot be typed: its SQL is built at run time, so its columns are known "
             "only when it runs")),
    ]
    assert [c.line for c in outcome.changes if c.codemod == "repositories"] == [15, 19, 20]
