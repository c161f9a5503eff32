"""The results store: the row-level result tables of `storage.catalog` in a transactional SQL database.

A SQLite file by default (WAL, so readers never block the writer; a busy timeout and `BEGIN IMMEDIATE`, so
concurrent writers queue instead of failing), or PostgreSQL when the config names one (the server a
multi-machine Dagster instance already uses). SQLAlchemy Core, schema versions by alembic. Every write is
an upsert by key in one transaction: a re-run replaces its rows, concurrent runs never lose or duplicate
one. Every read goes by index.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from monitoring_pipeline.storage import catalog

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "monitoring_alembic_version"  # Dagster's own tables may share the database
BUSY_TIMEOUT_MS = 60_000
CACHE_KIB = 65_536  # SQLite page cache per connection
MMAP_BYTES = 1 << 30  # SQLite reads through a memory map of up to this much of the file
_engines: dict[tuple[str, bool], Engine] = {}
_migrated: set[str] = set()
_lock = threading.Lock()


class ResultsStoreError(RuntimeError):
    """The results store cannot be reached or used; the message names it (never its password)."""


def normalize_url(location: str) -> str:
    """A SQLAlchemy URL: a PostgreSQL URL as given (psycopg2 driver), anything else a SQLite file path."""
    if location.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + location.split("://", 1)[1]
    if "://" in location:
        return location
    return f"sqlite:///{Path(location).expanduser().resolve()}"


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _sqlite_engine(url: str, write: bool) -> Engine:
    path = Path(sa.engine.make_url(url).database or "")
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        # index pages of a long history stay in memory between queries (reads by index touch a few each)
        cur.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        cur.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # a writer takes the write lock up front: no deadlock on a read-then-write lock upgrade
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def engine_for(url: str, write: bool) -> Engine:
    """One engine per URL and purpose per process (SQLite gets separate reader and writer engines)."""
    is_sqlite = url.startswith("sqlite")
    cache_key = (url, write and is_sqlite)
    with _lock:
        if cache_key not in _engines:
            if is_sqlite:
                _engines[cache_key] = _sqlite_engine(url, write)
            else:
                _engines[cache_key] = sa.create_engine(url, pool_pre_ping=True)
        return _engines[cache_key]


class ResultsStore:
    def __init__(self, location: str) -> None:
        self.url = normalize_url(location)
        self.is_sqlite = self.url.startswith("sqlite")

    def __repr__(self) -> str:
        return f"ResultsStore({safe_url(self.url)})"

    @property
    def sqlite_path(self) -> str | None:
        return sa.engine.make_url(self.url).database if self.is_sqlite else None

    # ------------------------------------------------------------------------------------- schema

    def ensure_schema(self) -> None:
        """Bring the schema to the newest migration, once per process; concurrent processes take turns."""
        if self.url in _migrated:
            return
        try:
            with self._migration_lock(), engine_for(self.url, write=True).begin() as conn:
                if not self.is_sqlite:  # PostgreSQL: first starts take turns on an advisory lock
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(727100)"))
                _upgrade(conn)
        except sa.exc.OperationalError as exc:
            raise ResultsStoreError(f"results store {safe_url(self.url)}: {exc.orig}") from exc
        _migrated.add(self.url)

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """SQLite: first starts take turns on a lock file beside the database."""
        if not self.is_sqlite:
            yield
            return
        lock_path = Path(f"{self.sqlite_path}.migrate.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -------------------------------------------------------------------------------------- writes

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        self.ensure_schema()
        try:
            with engine_for(self.url, write=True).begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise ResultsStoreError(f"results store {safe_url(self.url)}: {exc.orig}") from exc

    def upsert(
        self,
        table: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        update: Sequence[str] | None = None,
        conn: Connection | None = None,
        newer: str | None = None,
    ) -> int:
        """Insert `rows`, replacing (the `update` columns of, default all) rows with the same key; with
        `newer`, a stored row is replaced only by one whose `newer` column is at least as recent."""
        if not rows:
            return 0
        if conn is None:
            with self.transaction() as own:
                return self.upsert(table, rows, update, own, newer)
        keys = catalog.key_columns(table)
        names = [c.name for c in table.columns]
        # one row per key, the last one winning, whatever the backend (PostgreSQL refuses a statement
        # that would update the same row twice)
        by_key = {tuple(r.get(k) for k in keys): {n: r.get(n) for n in names} for r in rows}
        full = list(by_key.values())
        dialect = sqlite if self.is_sqlite else postgresql
        stmt = dialect.insert(table)
        changed = [n for n in (update or names) if n not in keys]
        guard = (table.c[newer] <= stmt.excluded[newer]) if newer else None
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={n: stmt.excluded[n] for n in changed}, where=guard
        )
        conn.execute(stmt, full)
        return len(full)

    def insert_missing(
        self, table: sa.Table, rows: Sequence[Mapping[str, Any]], conn: Connection | None = None
    ) -> int:
        """Insert the rows whose key is not stored yet; a stored row is left as it is."""
        if not rows:
            return 0
        if conn is None:
            with self.transaction() as own:
                return self.insert_missing(table, rows, own)
        names = [c.name for c in table.columns]
        stmt = (sqlite if self.is_sqlite else postgresql).insert(table)
        stmt = stmt.on_conflict_do_nothing(index_elements=catalog.key_columns(table))
        return conn.execute(stmt, [{n: r.get(n) for n in names} for r in rows]).rowcount

    def replace(
        self,
        table: sa.Table,
        match: Mapping[str, Any],
        rows: Sequence[Mapping[str, Any]],
        conn: Connection | None = None,
    ) -> list[dict[str, Any]]:
        """Make the rows matching `match` (e.g. one model and hour) exactly `rows`, in one transaction;
        return the keys that matched before (each as {key column: value})."""
        if conn is None:
            with self.transaction() as own:
                return self.replace(table, match, rows, own)
        where = sa.and_(*[table.c[k] == v for k, v in match.items()])
        keys = catalog.key_columns(table)
        stale = {tuple(s) for s in conn.execute(sa.select(*[table.c[k] for k in keys]).where(where))}
        for key in stale - {tuple(r.get(k) for k in keys) for r in rows}:
            conn.execute(sa.delete(table).where(*[table.c[k] == v for k, v in zip(keys, key, strict=True)]))
        self.upsert(table, rows, conn=conn)
        return [dict(zip(keys, key, strict=True)) for key in stale]

    def delete(self, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
        with self.transaction() as conn:
            return conn.execute(sa.delete(table).where(where)).rowcount

    # --------------------------------------------------------------------------------------- reads

    def hour_rows(
        self, table: sa.Table, model: str, hours: Sequence[datetime], *columns: str
    ) -> list[dict[str, Any]]:
        """A result table's rows (or just `columns`) of one model and some hours, by index, in key order."""
        picked = [table.c[c] for c in columns] if columns else [table]
        stmt = sa.select(*picked).where(table.c.model == model, table.c.partition_hour.in_(list(hours)))
        return self.rows(stmt, sort=[k for k in catalog.key_columns(table) if not columns or k in columns])

    def rows(self, stmt: sa.Executable, sort: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The statement's rows as dicts, sorted here by `sort`: an ORDER BY in SQL can make SQLite's
        planner (which keeps no statistics) walk the key's index over the whole history instead of
        seeking the filter's index."""
        self.ensure_schema()
        try:
            with engine_for(self.url, write=False).connect() as conn:
                found = [dict(r._mapping) for r in conn.execute(stmt)]
        except sa.exc.OperationalError as exc:
            raise ResultsStoreError(f"results store {safe_url(self.url)}: {exc.orig}") from exc
        return sorted(found, key=lambda r: tuple(r[k] for k in sort)) if sort else found


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
