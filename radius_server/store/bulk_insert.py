"""Many rows into one table: COPY on PostgreSQL, one executemany on SQLite.

psycopg runs an executemany as one prepared INSERT per row in a pipeline: 100,000
members and their 100,000 change-feed rows cost 200,000 executions on the server,
and a multi-row INSERT of arrays is dumped value by value in Python. ``COPY ...
FROM STDIN`` streams the rows (formatted in psycopg's C code) into the same
transaction, with the same column defaults and constraints. SQLite runs
in-process, where executemany is already cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (every row the same keys) in the caller's transaction."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    # Here, not at the top: a server on SQLite never loads psycopg (about 25 MiB).
    import psycopg
    from psycopg import sql

    columns = list(rows[0])
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    # The session's own connection: the rows land in its transaction.
    connection = session.connection().connection.driver_connection
    try:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([row[name] for name in columns])
    except psycopg.errors.IntegrityError as exc:
        # As SQLAlchemy raises it for an INSERT, so callers catch one kind (a unique
        # index hit by a concurrent writer). Its text may quote a key (a PIN): callers
        # report the row, never this message.
        raise IntegrityError("COPY", None, exc) from None
