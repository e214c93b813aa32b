"""Metadata rows → a database through SQLAlchemy 2, with accumulation, upsert and an on-disk cache.

Embedded default: an SQLite file (``<folder>/masksmith-<table>.sqlite``). Production: PostgreSQL with PostGIS
(``postgresql+psycopg://user@host/db``; positions become ``geometry(PointZ, 4326)``). Oracle works through
SQLAlchemy's ``oracle+oracledb`` dialect (untested here): it has no ``ON CONFLICT``, so the sink upserts by
selecting the existing keys and then inserting or updating, and points are stored as EWKT text.

Life of a row: :meth:`DatabaseSink.add` formats and checks it, appends it to the pending set and rewrites the
cache file (JSON lines, atomically) so a crash loses nothing; every ``db_max_n_accumulated_rows`` rows the
pending set is upserted in one transaction and the cache shrinks. If the database is unreachable the rows stay
cached, the run continues, and a new sink replays the cache when it starts. Errors are counted: rows the
database rejects and failed attempts to reach it; more than ``db_max_n_errors`` errors, or more than
``db_max_cache_size`` cached rows, raise :class:`SinkLimitExceeded` (the cache file is kept for the next run).
The password never appears in logs or errors: URLs are rendered with it hidden and bound parameters are hidden.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from masksmith import atomic_io
from masksmith.anonymise.config import AnonymiseConfig
from masksmith.anonymise.tables import (
    TableSpec,
    format_row,
    load_table_spec,
    require_sqlalchemy,
    sa_table,
)
from masksmith.errors import ConfigError, MasksmithError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

__all__ = [
    "DatabaseSink",
    "FlushResult",
    "NullSink",
    "RowRejected",
    "RowSink",
    "SinkError",
    "SinkLimitExceeded",
    "SinkStats",
    "SqlResult",
    "create_table",
    "database_url",
    "default_state_dir",
    "make_engine",
    "render_url",
    "run_sql",
    "sink_from_config",
]

_log = logging.getLogger(__name__)


class SinkError(MasksmithError):
    """Rows cannot be written, or the database cannot be set up."""


class RowRejected(SinkError):
    """One row cannot be written (no primary key, an empty NOT NULL column, or the database refused it)."""


class SinkLimitExceeded(SinkError):
    """``db_max_n_errors`` or ``db_max_cache_size`` was exceeded; the run must stop."""


@dataclass
class SinkStats:
    """Counters for the run summary."""

    inserted: int = 0
    updated: int = 0
    rejected: int = 0  # rows refused (before or by the database)
    unreachable: int = 0  # failed attempts to reach the database
    replayed: int = 0  # cached rows of an earlier run written by this sink
    pending: int = 0  # rows waiting (accumulated or cached after a failure)

    @property
    def errors(self) -> int:
        """What ``db_max_n_errors`` limits: rejected rows plus failed attempts to reach the database."""
        return self.rejected + self.unreachable


@dataclass(frozen=True)
class FlushResult:
    """Primary keys written and rejected by one flush; ``unreachable`` when the database could not be used."""

    written: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    unreachable: bool = False


class RowSink(Protocol):
    """What the anonymisation pipeline writes metadata rows to."""

    stats: SinkStats

    def add(self, row: Mapping[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class NullSink:
    """The sink when ``write_exif_to_db`` is off: accepts and drops rows."""

    takes_rows = False

    def __init__(self) -> None:
        self.stats = SinkStats()

    def add(self, row: Mapping[str, Any]) -> None:
        """Drop ``row``."""

    def flush(self) -> None:
        """Nothing to write."""

    def close(self) -> None:
        """Nothing to release."""


# ---------------------------------------------------------------------------------------------- engines


def render_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***`` (safe for logs)."""
    sa = require_sqlalchemy()
    parsed = sa.engine.make_url(url) if isinstance(url, str) else url
    rendered: str = parsed.render_as_string(hide_password=True)
    return rendered


def database_url(
    config: AnonymiseConfig,
    *,
    url: str | None = None,
    folder: str | os.PathLike[str] | None = None,
    table: str | None = None,
) -> URL:
    """The database URL with the password filled in (from the environment or the encrypted config value).

    ``url`` (without a password) overrides ``db_url``; with neither, the embedded SQLite file
    ``<folder>/masksmith-<table>.sqlite`` is used.
    """
    sa = require_sqlalchemy()
    db = config.database
    text = url or db.db_url
    if text is None:
        if folder is None:
            raise ConfigError(
                "no database: set db_url (e.g. postgresql+psycopg://user@host/db) or give a folder for the "
                "embedded SQLite file",
                argument="db_url",
            )
        name = (table or db.table_name or "rows").lower()
        Path(folder).mkdir(parents=True, exist_ok=True)
        embedded: URL = sa.engine.URL.create(
            "sqlite", database=os.fspath(Path(folder) / f"masksmith-{name}.sqlite")
        )
        return embedded
    try:
        parsed: URL = sa.engine.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"not a database URL ({exc})", argument="db_url") from None
    if parsed.password is not None:
        raise ConfigError(
            "the URL must not contain a password; set the variable named by db_password_env instead",
            argument="db_url",
        )
    if not parsed.get_backend_name().startswith("sqlite"):
        password = db.db_password()
        if password is not None:
            parsed = parsed.set(password=password.get_secret_value())
    return parsed


def make_engine(url: URL | str) -> Engine:
    """An engine with hidden parameters in errors and a bounded connect time for network databases."""
    sa = require_sqlalchemy()
    parsed = sa.engine.make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args["connect_timeout"] = 10
    try:
        engine: Engine = sa.create_engine(
            parsed, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args
        )
    except (ImportError, ModuleNotFoundError) as exc:
        raise SinkError(
            f"the database driver for {backend!r} is not installed ({exc}); for PostgreSQL: "
            "pip install 'masksmith[db]'",
            argument="db_url",
        ) from None
    return engine


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_FATAL_CONNECT = re.compile(
    r"password authentication failed|authentication failed|no password supplied|"
    r"role \S+ does not exist|database \S+ does not exist|permission denied|ORA-01017",
    re.IGNORECASE,
)


def _is_disconnect(exc: BaseException) -> bool:
    sa = require_sqlalchemy()
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError) and bool(
        re.search(r"connect|server closed|terminat|shutdown|unable to open", _first_line(exc), re.I)
    )


def create_table(engine: Engine, spec: TableSpec, *, schema: str | None = None, drop: bool = False) -> str:
    """Create the table of ``spec`` if it does not exist (``drop`` first drops it); returns the DDL."""
    sa = require_sqlalchemy()
    from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable

    metadata = sa.MetaData()
    table = sa_table(spec, metadata, dialect=engine.dialect.name, schema=schema)
    ddl = [str(CreateTable(table).compile(engine)).strip()]
    ddl += [str(CreateIndex(index).compile(engine)).strip() for index in table.indexes]
    try:
        with engine.begin() as conn:
            if schema is not None and engine.dialect.name == "postgresql":
                conn.execute(CreateSchema(schema, if_not_exists=True))
            if drop:
                table.drop(conn, checkfirst=True)
            metadata.create_all(conn, checkfirst=True)
    except sa.exc.SQLAlchemyError as exc:
        hint = ""
        if "geometry" in _first_line(exc) and engine.dialect.name == "postgresql":
            hint = " (is PostGIS installed? run: CREATE EXTENSION postgis)"
        raise SinkError(
            f"cannot create table {spec.key!r} in {render_url(engine.url)}: {_first_line(exc)}{hint}",
            argument="table_name",
        ) from None
    return ";\n".join(ddl) + ";"


@dataclass(frozen=True)
class SqlResult:
    """What a statement returned: column names and rows (empty for statements without results)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    rowcount: int


def run_sql(engine: Engine, sql: str) -> SqlResult:
    """Execute one SQL statement and commit; rows are returned when the statement yields any."""
    sa = require_sqlalchemy()
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            if result.returns_rows:
                return SqlResult(tuple(result.keys()), tuple(tuple(r) for r in result.all()), -1)
            return SqlResult((), (), result.rowcount)
    except sa.exc.SQLAlchemyError as exc:
        raise SinkError(f"SQL failed in {render_url(engine.url)}: {_first_line(exc)}") from None


# ---------------------------------------------------------------------------------------------- the sink


def _atomic_write_lines(path: Path, lines: Sequence[str]) -> None:
    atomic_io.write_lines(path, lines, make_parents=True)


class DatabaseSink:
    """Accumulating, upserting, crash-safe writer of metadata records to one table.

    ``cache_dir`` holds the cache of unsent rows (``db-pending-<table>.jsonl``), the rejected rows
    (``db-rejected-<table>.jsonl``) and, without a URL, the embedded SQLite file; None keeps rows only in
    memory. ``upsert`` ``"auto"`` uses ``INSERT … ON CONFLICT DO UPDATE`` on PostgreSQL and SQLite and the
    portable select-then-insert/update elsewhere; ``"portable"`` forces the latter. Thread-safe.
    """

    def __init__(
        self,
        config: AnonymiseConfig,
        *,
        cache_dir: str | os.PathLike[str] | None,
        url: str | URL | None = None,
        spec: TableSpec | str | os.PathLike[str] | None = None,
        create: bool = True,
        upsert: Literal["auto", "portable"] = "auto",
        replay: bool = True,
    ) -> None:
        db = config.database
        if db.db_max_n_accumulated_rows > db.db_max_cache_size:
            raise ConfigError(
                f"db_max_n_accumulated_rows ({db.db_max_n_accumulated_rows}) exceeds db_max_cache_size "
                f"({db.db_max_cache_size}): every flush would overflow the cache",
                argument="db_max_cache_size",
            )
        if spec is None:
            if not db.table_name:
                raise ConfigError("write_exif_to_db needs table_name", argument="table_name")
            spec = db.table_name
        self.spec = spec if isinstance(spec, TableSpec) else load_table_spec(spec)
        if self.spec.pk_source != db.table_primary_key:
            _log.warning(
                "table %s takes its primary key from %r, not table_primary_key %r",
                self.spec.name,
                self.spec.pk_source,
                db.table_primary_key,
            )
        self._max_rows = db.db_max_n_accumulated_rows
        self._max_errors = db.db_max_n_errors
        self._max_cache = db.db_max_cache_size
        self._flip = config.metadata.flip_wkt
        self._schema = db.db_schema
        self._create = create
        self._upsert_mode = upsert
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._cache_file = self._cache_path("pending")
        self._rejected_file = self._cache_path("rejected")
        if isinstance(url, str) or url is None:
            url = database_url(config, url=url, folder=self._cache_dir, table=self.spec.name)
        self.url = render_url(url)
        self._engine = make_engine(url)
        self._sa = require_sqlalchemy()
        self._table = sa_table(
            self.spec, self._sa.MetaData(), dialect=self._engine.dialect.name, schema=self._schema
        )
        self._lock = threading.RLock()
        self._pending: dict[str, dict[str, Any]] = {}
        self._flush_at = self._max_rows
        self._table_ready = not create
        self._closed = False
        self.stats = SinkStats()
        self.rejected_keys: set[str] = set()  # keys the database refused in this session
        self.written_keys: set[str] = set()  # keys written (inserted or updated) in this session
        self.rejections: dict[str, str] = {}  # key -> why it was refused
        _log.info("database rows go to table %s in %s", self.spec.key, self.url)
        self._probe()
        self._load_cache()
        if replay and self._pending:
            count = len(self._pending)
            _log.info("replaying %d cached row(s) from %s", count, self._cache_file)
            result = self._flush_locked(check_limits=False)
            self.stats.replayed += len(result.written)

    # -- public API

    @property
    def cache_file(self) -> Path | None:
        """The JSON-lines file holding unsent rows (None without a cache folder)."""
        return self._cache_file

    @property
    def location(self) -> str:
        """Where rows go, for the run summary: the SQLite file's path, else the URL without password."""
        url = self._engine.url
        if url.get_backend_name() == "sqlite" and url.database:
            return os.fspath(Path(url.database).resolve())
        return self.url

    def row_key(self, row: Mapping[str, Any]) -> str:
        """The primary key a row is stored under."""
        return str(row.get(self.spec.pk_source))

    def pending_keys(self) -> tuple[str, ...]:
        """Primary keys of rows not yet written."""
        with self._lock:
            return tuple(self._pending)

    def add(self, row: Mapping[str, Any]) -> None:
        """Queue one metadata record; flushes when ``db_max_n_accumulated_rows`` rows wait.

        Raises RowRejected for a record without a primary key or with an empty NOT NULL column, and
        SinkLimitExceeded when the error or cache limits are exceeded. An unreachable database only keeps
        the rows cached (no exception).
        """
        with self._lock:
            self._check_open()
            key = row.get(self.spec.pk_source)
            formatted = format_row(self.spec, row, flip_wkt=self._flip)
            name = row.get("exif_filnavn") or key or "<row>"
            if formatted.missing_not_null:
                self.stats.rejected += 1
                missing = ", ".join(formatted.missing_not_null)
                self._write_rejected(row, f"empty NOT NULL column(s): {missing}")
                self._check_limits()
                raise RowRejected(
                    f"row for table {self.spec.key} not written: empty NOT NULL column(s) {missing}"
                    + ("".join(f"; {p}" for p in formatted.problems)),
                    file=str(name),
                )
            for problem in formatted.problems:
                _log.warning("%s: column %s set to NULL", name, problem)
            self._pending[str(key)] = dict(row)
            self._save_cache()
            if len(self._pending) >= self._flush_at:
                self._flush_locked(check_limits=True)
            else:
                self._check_limits()

    def flush(self) -> None:
        """Write every pending row now (see :meth:`write_pending` for what happened)."""
        self.write_pending()

    def write_pending(self) -> FlushResult:
        """Write every pending row now; returns the keys written and rejected."""
        with self._lock:
            self._check_open()
            return self._flush_locked(check_limits=True)

    def close(self) -> None:
        """Flush and release the connection pool; rows that could not be written stay in the cache file."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._pending:
                    self._flush_locked(check_limits=False)
                if self._pending:
                    where = f"kept in {self._cache_file}" if self._cache_file else "lost (no cache folder)"
                    _log.warning(
                        "%d row(s) could not be written to %s; %s and replayed on the next start",
                        len(self._pending),
                        self.url,
                        where,
                    )
            finally:
                self._closed = True
                self._engine.dispose()

    def __enter__(self) -> DatabaseSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _probe(self) -> None:
        """Connect once: refuse bad credentials or a missing database now, tolerate an outage."""
        sa = self._sa
        try:
            with self._engine.connect() as conn, conn.begin():
                self._ensure_table(conn)
                exists = sa.inspect(conn).has_table(self.spec.key, schema=self._schema)
        except sa.exc.SQLAlchemyError as exc:
            if _FATAL_CONNECT.search(_first_line(exc)):
                raise SinkError(
                    f"cannot use database {self.url}: {_first_line(exc)}", argument="db_url"
                ) from None
            if not _is_disconnect(exc):
                raise SinkError(
                    f"cannot create table {self.spec.key!r} in {self.url}: {_first_line(exc)}",
                    argument="table_name",
                ) from None
            _log.warning(
                "database %s unreachable at start (%s); rows will be cached", self.url, _first_line(exc)
            )
            return
        if not exists:
            raise SinkError(
                f"table {self.spec.key!r} does not exist in {self.url}; create it with "
                "'masksmith anonymise db create-table'",
                argument="table_name",
            )

    # -- cache

    def _cache_path(self, kind: str) -> Path | None:
        if self._cache_dir is None:
            return None
        return self._cache_dir / f"db-{kind}-{self.spec.key}.jsonl"

    def _load_cache(self) -> None:
        if self._cache_file is None or not self._cache_file.is_file():
            return
        for number, line in enumerate(self._cache_file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = record[self.spec.pk_source]
            except (json.JSONDecodeError, KeyError, TypeError):
                _log.warning("%s line %d is not a cached row; skipped", self._cache_file, number)
                continue
            self._pending[str(key)] = record
        self.stats.pending = len(self._pending)

    def _save_cache(self) -> None:
        self.stats.pending = len(self._pending)
        if self._cache_file is None:
            return
        if not self._pending:
            self._cache_file.unlink(missing_ok=True)
            return
        _atomic_write_lines(
            self._cache_file, [json.dumps(r, ensure_ascii=False) for r in self._pending.values()]
        )

    def _write_rejected(self, record: Mapping[str, Any], reason: str) -> None:
        if self._rejected_file is None:
            return
        self._rejected_file.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"error": reason, "row": dict(record)}, ensure_ascii=False)
        with self._rejected_file.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")  # a diagnostic log: one complete line per write

    # -- writing

    def _check_open(self) -> None:
        if self._closed:
            raise SinkError("the database sink is closed")

    def _check_limits(self) -> None:
        if self.stats.errors > self._max_errors:
            raise SinkLimitExceeded(
                f"{self.stats.errors} database errors ({self.stats.rejected} rejected rows, "
                f"{self.stats.unreachable} failed connection attempts) exceed db_max_n_errors="
                f"{self._max_errors}",
                argument="db_max_n_errors",
            )
        if len(self._pending) > self._max_cache:
            where = f"; they are kept in {self._cache_file}" if self._cache_file else ""
            raise SinkLimitExceeded(
                f"{len(self._pending)} unsent rows exceed db_max_cache_size={self._max_cache} "
                f"(database {self.url} unreachable?){where}",
                argument="db_max_cache_size",
            )

    def _unreachable(self, exc: BaseException) -> FlushResult:
        self.stats.unreachable += 1
        # Back off: the next attempt waits for another batch instead of retrying on every row.
        self._flush_at = len(self._pending) + self._max_rows
        _log.warning(
            "database %s unreachable (%s); %d row(s) kept%s",
            self.url,
            _first_line(exc),
            len(self._pending),
            f" in {self._cache_file}" if self._cache_file else " in memory",
        )
        return FlushResult(unreachable=True)

    def _ensure_table(self, conn: Connection) -> None:
        if self._table_ready:
            return
        if self._schema is not None and self._engine.dialect.name == "postgresql":
            from sqlalchemy.schema import CreateSchema

            conn.execute(CreateSchema(self._schema, if_not_exists=True))
        self._table.metadata.create_all(conn, checkfirst=True)
        self._table_ready = True

    def _flush_locked(self, *, check_limits: bool) -> FlushResult:
        if not self._pending:
            return FlushResult()
        sa = self._sa
        rows = {
            key: format_row(self.spec, record, flip_wkt=self._flip).values
            for key, record in self._pending.items()
        }
        written: list[str] = []
        rejected: list[str] = []
        unreachable = False
        try:
            with self._engine.connect() as conn:
                try:
                    with conn.begin():
                        self._ensure_table(conn)
                except sa.exc.SQLAlchemyError as exc:
                    if _is_disconnect(exc):
                        raise
                    raise SinkError(
                        f"cannot create table {self.spec.key!r} in {self.url}: {_first_line(exc)}",
                        argument="table_name",
                    ) from None
                try:
                    with conn.begin():
                        self._upsert(conn, list(rows.values()))
                    written = list(rows)
                except sa.exc.DBAPIError as exc:
                    if _is_disconnect(exc):
                        raise
                    _log.warning(
                        "batch of %d row(s) failed (%s); writing one by one", len(rows), _first_line(exc)
                    )
                    for key, values in rows.items():
                        try:
                            with conn.begin():
                                self._upsert(conn, [values])
                            written.append(key)
                        except sa.exc.DBAPIError as row_exc:
                            if _is_disconnect(row_exc):
                                raise
                            rejected.append(key)
                            self._reject(key, _first_line(row_exc))
        except sa.exc.SQLAlchemyError as exc:
            unreachable = True
            result = self._unreachable(exc)
        self.written_keys.update(written)
        for key in (*written, *rejected):
            self._pending.pop(key, None)
        if not unreachable:
            self._flush_at = self._max_rows
        self._save_cache()
        if check_limits:
            self._check_limits()
        if unreachable:
            return FlushResult(tuple(written), tuple(rejected), True) if written or rejected else result
        return FlushResult(tuple(written), tuple(rejected), False)

    def _reject(self, key: str, reason: str) -> None:
        self.stats.rejected += 1
        self.rejected_keys.add(key)
        self.rejections[key] = reason
        record = self._pending.get(key, {})
        _log.error("row %s rejected by %s: %s", key, self.url, reason)
        self._write_rejected(record, reason)

    def _upsert(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        sa = self._sa
        table = self._table
        pk = table.c[self.spec.pk_column.key]
        keys = [r[pk.key] for r in rows]
        existing: set[Any] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            existing.update(conn.execute(sa.select(pk).where(pk.in_(chunk))).scalars())
        dialect = conn.dialect.name
        if self._upsert_mode == "auto" and dialect in ("postgresql", "sqlite"):
            from sqlalchemy.dialects import postgresql, sqlite

            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement: Any = insert(table)
            statement = statement.on_conflict_do_update(
                index_elements=[pk],
                set_={c.key: statement.excluded[c.key] for c in table.c if c.key != pk.key},
            )
            conn.execute(statement, rows)
        else:
            new = [r for r in rows if r[pk.key] not in existing]
            old = [{**r, "_masksmith_pk": r[pk.key]} for r in rows if r[pk.key] in existing]
            if new:
                conn.execute(table.insert(), new)
            if old:
                update = table.update().where(pk == sa.bindparam("_masksmith_pk"))
                conn.execute(update, old)
        updated = sum(1 for k in keys if k in existing)
        self.stats.updated += updated
        self.stats.inserted += len(keys) - updated


def default_state_dir() -> Path:
    """Where unsent rows and the embedded SQLite file live by default: ``$XDG_STATE_HOME/masksmith/anonymise``
    (``~/.local/state/masksmith/anonymise``), a fixed place so the next run finds the cache."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "masksmith" / "anonymise"


def sink_from_config(
    config: AnonymiseConfig,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
) -> DatabaseSink | NullSink:
    """The pipeline's sink: a DatabaseSink when ``write_exif_to_db`` is on, else a NullSink.

    ``cache_dir`` None means :func:`default_state_dir`.
    """
    if not config.database.write_exif_to_db:
        return NullSink()
    return DatabaseSink(
        config, cache_dir=cache_dir if cache_dir is not None else default_state_dir(), url=url
    )
