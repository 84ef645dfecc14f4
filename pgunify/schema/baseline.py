"""Child process: `alembic revision --autogenerate` for the baseline, plus the raw-SQL steps.

Run as `python -m pgunify.schema.baseline REQUEST.json` in the application's root, with its
database URL variable pointing at an empty scratch database.
"""

from __future__ import annotations

import json
import sys


def _render_sql(sql: str) -> str:
    """op.execute() of one line, or of adjacent string literals, one per line of SQL: function
    bodies stay readable and byte for byte what the server had, whatever the indentation."""
    lines = sql.splitlines(keepends=True)
    if len(lines) < 2:
        return f"op.execute({sql!r})"
    return "op.execute(\n" + "".join(f"    {line!r}\n" for line in lines) + ")"


def main(request_file: str) -> None:
    from alembic import command
    from alembic.autogenerate import renderers
    from alembic.config import Config
    from alembic.operations import ops
    from sqlalchemy import Enum

    with open(request_file, encoding="utf-8") as handle:
        request = json.load(handle)

    @renderers.dispatch_for(ops.ExecuteSQLOp, replace=True)
    def _render_execute(autogen_context, op):  # noqa: ANN001 - Alembic's renderer signature
        return _render_sql(op.sqltext)

    def directives(context, revision, scripts):  # noqa: ANN001 - Alembic's hook signature
        script = scripts[0]
        target = context.opts["target_metadata"]
        metadatas = target if isinstance(target, (list, tuple)) else [target]
        upgrade, downgrade = script.upgrade_ops.ops, script.downgrade_ops.ops
        upgrade[:0] = [ops.ExecuteSQLOp(sql) for sql in request["before"]]
        upgrade.extend(ops.ExecuteSQLOp(sql) for sql in request["after"])
        downgrade[:0] = [ops.ExecuteSQLOp(sql) for sql in request["drop_first"]]
        enum_types = []
        for table in (t for metadata in metadatas for t in metadata.sorted_tables):
            for column in table.columns:
                if isinstance(column.type, Enum) and column.type.name and column.type.name not in enum_types:
                    enum_types.append(column.type.name)
        # drop_table leaves the enum types create_table made; the baseline takes them back
        downgrade.extend(ops.ExecuteSQLOp(f"DROP TYPE IF EXISTS {name}") for name in reversed(enum_types))
        downgrade.extend(ops.ExecuteSQLOp(sql) for sql in request["drop_last"])

    config = Config(request["ini"])
    command.revision(config, message="baseline: the schema the application created at start-up",
                     autogenerate=True, process_revision_directives=directives)


if __name__ == "__main__":
    main(sys.argv[1])
