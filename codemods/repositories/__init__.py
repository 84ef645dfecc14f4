"""repositories: every asyncpg call onto SQLAlchemy Core `text()` on the shared engine.

Receivers are recognised through pgunify's facts (scopes, qualified names, assignments such
as `self._pool = pool`), never by method name alone. Each static statement is rewritten
with PostgreSQL's own lexer and proven unchanged before it is offered; what callers see
(records, status strings, exceptions, commit behaviour) is kept by the raw-SQL helpers
generated beside the engine module. Sites the tool cannot carry over keep a greppable
`# pgunify: review` comment and an entry in the report.

One registered codemod, composed of passes that share one visit of each file:

| module | what it rewrites |
|---|---|
| `codemod.py` | the codemod itself: which pass handles which call, statement and annotation |
| `base.py` | what the passes share: the receiver's kind (`plan.receivers`, else this module's own resolution), helper imports, review marking |
| `queries.py` | `fetch`, `fetchrow`, `fetchval`, `execute`, `executemany` onto `conn.execute(text(...))`; pool-level calls given a connection |
| `sql.py` | the `$n` SQL onto `text()` with named binds, proven; literals in constants and local variables |
| `binds.py` | the bind names, the bind dict laid out as the call was, `executemany` rows |
| `driver.py` | what stays asyncpg's on the driver connection: `copy_*`, asyncpg-only methods, calls not awaited in place |
| `prepared.py` | `prepare()` and its statement's calls, `cursor()` in `async for`; statements used as asyncpg's stay on the driver connection |
| `either.py` | receivers that may be a pool or a connection, through `asyncpg_connection()` |
| `pool.py` | `acquire()` (with `timeout=`, kept for listeners), `release()`, `close()`, the pool's size and state |
| `transactions.py` | `conn.transaction()`, and transactions driven by hand |
| `annotations.py` | `asyncpg.Pool`, `asyncpg.Connection`, `asyncpg.Record` in annotations |
| `records.py` | `isinstance(x, asyncpg.Record)` accepts the raw-SQL helpers' `Record` too |
| `review.py` | the `# pgunify: review` comments |
"""

from .base import REVIEW_MARK
from .codemod import RepositoryCodemod

__all__ = ["REVIEW_MARK", "RepositoryCodemod"]
