"""The feedback store: reviews, insight decisions and the record of every inbox file handled, in one database.

SQLite in WAL mode is the default (`data/feedback/feedback.sqlite`): in the standard library, one file, readers
(the UI, the sensor, an export) keep reading while a writer commits, and a killed writer leaves a journal that the
next open rolls back. A team points every process at one PostgreSQL database instead with
`DATAPILOT_STORE_URL=postgresql://user@host/db`; the same SQLAlchemy Core code runs on both.

Writers are serialized by the database itself: `BEGIN IMMEDIATE` on SQLite, a transaction-scoped advisory lock
on PostgreSQL. The ingestion writes each batch (feedback rows, decision rows, file records) in one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from datapilot_pipeline.lib.feedback.tables import DECISION_COLUMNS, FEEDBACK_COLUMNS, typed

STORE_URL_ENV = "DATAPILOT_STORE_URL"
SQLITE_NAME = "feedback.sqlite"
WRITER_LOCK_KEY = 0x64617461  # PostgreSQL advisory lock id of the store's single writer
FILE_COLUMNS = ["path", "name", "sha256", "status", "reason", "feedback_id", "moved_to", "seen_at"]
QUARANTINE_COLUMNS = ["path", "reason", "sha256", "seen_at", "moved_to"]

_INTS = {"overall_score", "n_insights", "n_items", "n_approved", "n_edited", "n_rejected", "n_skipped", "human_score"}
_BOOLS = {"evidence_valid", "edited_evidence_valid"}
_TEXTS = {"raw_json", "evidence_problems", "notes", "reason"}


def _column(name: str) -> sa.Column:
    kind = sa.Integer if name in _INTS else sa.Boolean if name in _BOOLS else sa.Text if name in _TEXTS \
        else sa.String(512)
    return sa.Column(name, kind, nullable=True)


# The UTC month (`YYYY-MM`) of a row's `created_at`, kept beside it: the monthly partitions read one month's rows
# through an index on it (`created_at` is any ISO-8601 time, offsets included, so its text does not sort by UTC).
MONTH_COLUMN = "created_month"
MONTH_TABLES = ("feedback", "decisions")

METADATA = sa.MetaData()
TABLES = {
    "feedback": sa.Table("feedback", METADATA, sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                         *(_column(c) for c in FEEDBACK_COLUMNS), sa.Column(MONTH_COLUMN, sa.String(7)),
                         sa.UniqueConstraint("feedback_id"),
                         # export streams the store job by job; the sensor reads what was ingested after a time;
                         # the monthly partitions read one month of reviews
                         sa.Index("feedback_by_job", "job_id", "seq"), sa.Index("feedback_by_ingested_at", "ingested_at"),
                         sa.Index("feedback_by_month", MONTH_COLUMN, "seq")),
    "decisions": sa.Table("decisions", METADATA, sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                          *(_column(c) for c in DECISION_COLUMNS), sa.Column(MONTH_COLUMN, sa.String(7)),
                          sa.UniqueConstraint("feedback_id", "insight_id"),
                          sa.Index("decisions_by_month", MONTH_COLUMN, "seq")),
    "inbox_files": sa.Table("inbox_files", METADATA,
                            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                            *(_column(c) for c in FILE_COLUMNS),
                            sa.Index("inbox_files_by_name", "name"), sa.Index("inbox_files_by_status", "status")),
}


def utc_month(created_at: str | None) -> str | None:
    """`YYYY-MM` of an ISO-8601 time in UTC (a time without an offset is UTC, as `lib.trends` reads it)."""
    if not created_at:
        return None
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m")


def _add_month_column(conn: sa.Connection) -> None:
    """Stores made before `MONTH_COLUMN` existed get it, filled from `created_at` (rows a writer of that older
    version adds later are filled at the next writer's start)."""
    inspector = sa.inspect(conn)
    for name in MONTH_TABLES:
        table = TABLES[name]
        if MONTH_COLUMN not in {c["name"] for c in inspector.get_columns(name)}:
            conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {MONTH_COLUMN} VARCHAR(7)"))
        missing = conn.execute(sa.select(table.c.seq, table.c.created_at).where(
            table.c[MONTH_COLUMN].is_(None), table.c.created_at.is_not(None))).all()
        updates = [{"row_seq": seq, "month": month} for seq, created_at in missing
                   if (month := utc_month(created_at)) is not None]
        if updates:
            conn.execute(sa.update(table).where(table.c.seq == sa.bindparam("row_seq"))
                         .values({MONTH_COLUMN: sa.bindparam("month")}), updates)


class StoreError(RuntimeError):
    """The store cannot be opened (bad URL, server unreachable); one line."""


def store_url_for(feedback_dir: str | os.PathLike) -> str:
    """`$DATAPILOT_STORE_URL` when set, else the SQLite file in the feedback folder."""
    url = os.environ.get(STORE_URL_ENV, "").strip()
    return url or f"sqlite:///{Path(feedback_dir).resolve() / SQLITE_NAME}"


def _parse(url: str) -> sa.URL:
    try:
        return sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(f"{STORE_URL_ENV}={url!r} is not a database URL (e.g. postgresql://user@host/db)") from None


def safe_url(url: str) -> str:
    """The URL as it can be shown: the password hidden."""
    return _parse(url).render_as_string(hide_password=True)


def exists(url: str) -> bool:
    """False only for a SQLite store whose file was never created; a server is assumed to exist."""
    parsed = _parse(url)
    return parsed.get_backend_name() != "sqlite" or Path(parsed.database or "").exists()


_ENGINES: dict[tuple[str, bool], sa.Engine] = {}


def _set_wal(dbapi_connection) -> None:
    # Switching to WAL needs the database to itself and does not wait for a busy one: retry while others connect.
    import sqlite3
    import time

    for attempt in range(600):
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 599:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: sa.URL, write: bool) -> sa.Engine:
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"timeout": 300})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        dbapi_connection.execute("PRAGMA synchronous=FULL")
        if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            _set_wal(dbapi_connection)

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        # IMMEDIATE takes the write lock at the start: two writers queue instead of failing at their first insert.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def engine_for(url: str, write: bool = False) -> sa.Engine:
    """An engine on the store at `url` with its tables created; cached per process."""
    key = (url, write)
    if key in _ENGINES and _sqlite_file_gone(_ENGINES[key]):
        del _ENGINES[key]  # the file was removed while this process ran: start a new one
    if key not in _ENGINES:
        parsed = _parse(url)
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed, write)
        else:
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        if write:  # tables are created by the writer, under the writers' lock
            try:
                with engine.begin() as conn:
                    _lock_writers(conn)
                    METADATA.create_all(conn)
                    _add_month_column(conn)
                    for index in (i for t in METADATA.sorted_tables for i in t.indexes):
                        index.create(conn, checkfirst=True)  # create_all adds indexes to new tables only
            except sa.exc.OperationalError as exc:
                raise StoreError(f"cannot open the feedback store {safe_url(url)}: "
                                 f"{str(exc.orig).strip().splitlines()[0]}") from None
        _ENGINES[key] = engine
    if not write:
        engine_for(url, write=True)  # the tables exist before the first read
    return _ENGINES[key]


def _sqlite_file_gone(engine: sa.Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite" and not Path(engine.url.database).exists()


def _lock_writers(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK_KEY})


@contextmanager
def write_transaction(url: str) -> Iterator[sa.Connection]:
    """One transaction holding the store's single-writer lock; committed on clean exit, rolled back otherwise."""
    with engine_for(url, write=True).begin() as conn:
        _lock_writers(conn)
        yield conn


def insert_rows(conn: sa.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows (missing columns are NULL) into one of `TABLES`; `MONTH_COLUMN` is derived from `created_at`."""
    if rows:
        if table in MONTH_TABLES:
            rows = [{**row, MONTH_COLUMN: utc_month(row.get("created_at"))} for row in rows]
        conn.execute(sa.insert(TABLES[table]), rows)


def feedback_by_id(conn: sa.Connection, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """feedback_id -> (content_sha256, source_file) for the given ids already stored."""
    table, found = TABLES["feedback"], {}
    ids = list(ids)
    for start in range(0, len(ids), 500):
        query = sa.select(table.c.feedback_id, table.c.content_sha256, table.c.source_file).where(
            table.c.feedback_id.in_(ids[start:start + 500]))
        found.update({row.feedback_id: (row.content_sha256, row.source_file) for row in conn.execute(query)})
    return found


def files_named(conn: sa.Connection, names: Iterable[str]) -> list[dict[str, Any]]:
    """Every file record of the given inbox names, oldest first."""
    table, names, rows = TABLES["inbox_files"], list(names), []
    for start in range(0, len(names), 500):
        query = sa.select(table).where(table.c.name.in_(names[start:start + 500])).order_by(table.c.seq)
        rows.extend(dict(row._mapping) for row in conn.execute(query))
    return rows


def forget_quarantined(conn: sa.Connection, names: Iterable[str]) -> None:
    """Drop the quarantine verdicts of these names: a newer delivery under the same name replaces them."""
    table = TABLES["inbox_files"]
    names = list(names)
    for start in range(0, len(names), 500):
        conn.execute(sa.delete(table).where(table.c.status == "quarantined",
                                            table.c.name.in_(names[start:start + 500])))


def read_table(url: str, table: str, columns: list[str] | None = None, where=None) -> pd.DataFrame:
    """A whole table as a DataFrame in insertion order, with the dtypes downstream stages expect."""
    t = TABLES[table]
    columns = columns or [c.name for c in t.columns if c.name != "seq"]
    query = sa.select(*(t.c[c] for c in columns)).order_by(t.c.seq)
    if where is not None:
        query = query.where(where(t))
    with engine_for(url).connect() as conn:
        rows = conn.execute(query).all()
    return typed(pd.DataFrame([tuple(r) for r in rows], columns=columns))


def month_filter(month: str):
    """A `read_table` filter: the rows whose `created_at` falls in the UTC month `YYYY-MM` (an index lookup)."""
    return lambda t: t.c[MONTH_COLUMN] == month


def iter_by_job(url: str, columns: list[str], batch: int = 1000) -> Iterator[tuple]:
    """Rows of `feedback` ordered by job id (code-point order, as Python sorts strings; PostgreSQL is told
    COLLATE "C") then ingestion order, fetched `batch` at a time through a server-side cursor."""
    t = TABLES["feedback"]
    with engine_for(url).connect() as conn:
        job = sa.collate(t.c.job_id, "C") if conn.dialect.name == "postgresql" else t.c.job_id
        query = sa.select(*(t.c[c] for c in columns)).order_by(job, t.c.seq)
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
        for row in result:
            yield tuple(row)


def read_quarantine(url: str, limit: int | None = None) -> pd.DataFrame:
    """The current quarantine: each quarantined name's latest verdict, oldest first (the last `limit` rows)."""
    table = read_table(url, "inbox_files", QUARANTINE_COLUMNS, where=lambda t: t.c.status == "quarantined")
    return table if limit is None else table.tail(limit).reset_index(drop=True)


def count_feedback(url: str) -> int:
    """How many reviews the store holds (0 when no store exists yet; reading creates none)."""
    if not exists(url):
        return 0
    with engine_for(url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(TABLES["feedback"])).scalar_one()


def summary(url: str) -> dict[str, Any]:
    """Row counts and the approval rate (approved / non-skipped decisions; None when nothing was reviewed)."""
    feedback, decisions, files = TABLES["feedback"], TABLES["decisions"], TABLES["inbox_files"]
    reviewed = decisions.c.action != "skip"
    with engine_for(url).connect() as conn:
        n_feedback = conn.execute(sa.select(sa.func.count()).select_from(feedback)).scalar_one()
        n_decisions = conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()
        n_quarantined = conn.execute(sa.select(sa.func.count()).select_from(files)
                                     .where(files.c.status == "quarantined")).scalar_one()
        n_reviewed, n_approved = conn.execute(sa.select(
            sa.func.count().filter(reviewed), sa.func.count().filter(decisions.c.action == "approve"))).one()
    return {"total_feedback": n_feedback, "total_decisions": n_decisions, "total_quarantined": n_quarantined,
            "approval_rate": n_approved / n_reviewed if n_reviewed else None}
