"""Tests of masksmith.anonymise.tables and .sinks: formatting, SQLite and a real PostgreSQL with PostGIS."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from masksmith.anonymise.config import AnonymiseConfig, load_config
from masksmith.anonymise.metadata import NOT_NULL_COLUMNS
from masksmith.anonymise.sinks import (
    DatabaseSink,
    NullSink,
    RowRejected,
    SinkError,
    SinkLimitExceeded,
    create_table,
    database_url,
    make_engine,
    render_url,
    run_sql,
    sink_from_config,
)
from masksmith.anonymise.tables import (
    ColumnType,
    available_tables,
    format_row,
    load_table_spec,
)
from masksmith.errors import ConfigError
from tests.anonymise.rows import record
from tests.pg import PASSWORD, PostgresServer

sa = pytest.importorskip("sqlalchemy")


def make_config(tmp_path: Path, **keys: Any) -> AnonymiseConfig:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"write_exif_to_db": True, **keys}), encoding="utf-8")
    return load_config(path)


def sqlite_rows(
    sink: DatabaseSink, sql: str = "SELECT id, mappenavn FROM vegbilder ORDER BY id"
) -> list[Any]:
    engine = make_engine(sink.url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


# --- table definitions and formatting ---------------------------------------------------------------------


def test_shipped_tables_load_and_cover_the_not_null_fields() -> None:
    assert available_tables() == ["VEGBILDER", "VEGBILDER_V1"]
    spec = load_table_spec("vegbilder")
    assert spec.primary_key == "ID" and spec.pk_source == "bildeid"
    by_name = {c.name: c for c in spec.columns}
    for column, source in NOT_NULL_COLUMNS.items():
        assert column in by_name, column
        assert source in by_name[column].sources or column == "ID", column
        assert by_name[column].not_null or column == "ID", column
    assert by_name["Posisjon"].type is ColumnType.POINT and by_name["Posisjon"].dims == 3
    v1 = {c.name for c in load_table_spec("VEGBILDER_V1").columns}
    assert v1 < set(by_name) and "Dataeier" not in v1 and "Hastighet" not in v1


@pytest.mark.parametrize(
    ("changes", "column", "expected"),
    [
        ({"exif_meter": "1234,5"}, "meter", 1234.5),  # comma decimals (the original's convert_comma_to_dot)
        ({"exif_vegnr": "006"}, "vegnummer", 6),
        ({"exif_moh": "NaN"}, "moh", None),
        ({"exif_reflinkid": None, "veglenkeid": "42"}, "reflinkid", 42),  # fallback source
        ({}, "aar", 2021),
        ({}, "posisjonhoyde", 45.3),
        ({}, "posisjon", "SRID=4326;POINT Z(10.3951 63.4305 45.3)"),
        (
            {"exif_gpsposisjon": "srid=4326;POINT Z( 10.5 63.25 NaN )"},
            "posisjon",
            "SRID=4326;POINT Z(10.5 63.25 NaN)",
        ),
        ({}, "detekterteobjekter", '{"person": "1", "car": "3"}'),
        ({"exif_camera": None}, "kamera", None),
    ],
)
def test_format_row_values(changes: dict[str, Any], column: str, expected: Any) -> None:
    row = format_row(load_table_spec("VEGBILDER"), record(**changes))
    assert row.ok
    assert row.values[column] == expected


def test_format_row_timestamp_document_and_flip() -> None:
    spec = load_table_spec("VEGBILDER")
    row = format_row(spec, record(), flip_wkt=True)
    assert row.values["tidspunkt"].isoformat() == "2021-06-15T10:23:45"
    assert json.loads(row.values["jsondata"]) == record()
    assert row.values["posisjon"] == "SRID=4326;POINT Z(63.4305 10.3951 45.3)"


@pytest.mark.parametrize(
    ("changes", "problem_column"),
    [
        ({"exif_camera": "x" * 65}, "Kamera"),  # longer than VARCHAR(64)
        ({"exif_strekning": "1.5"}, "Strekning"),  # not an integer
        ({"exif_heading": "north"}, "Retning"),  # not a number
        ({"exif_gpsposisjon": "POINT(1 2)"}, "Posisjon"),  # not the WKT the metadata writes
        ({"exif_reflinkid": str(2**70)}, "ReflinkID"),  # out of BIGINT range
    ],
)
def test_unconvertible_values_become_null_with_a_problem(
    changes: dict[str, Any], problem_column: str
) -> None:
    row = format_row(load_table_spec("VEGBILDER"), record(**changes))
    assert row.ok
    assert row.values[problem_column.lower()] is None
    assert any(p.startswith(problem_column + ":") for p in row.problems)


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"exif_dataeier": None}, ("Dataeier",)),
        ({"bildeid": ""}, ("ID",)),
        ({"exif_fylke": "None"}, ("FylkeNummer",)),  # the original wrote the string "None"
        ({"exif_meter": "0"}, ()),  # 0 is a value (the original treated it as missing)
        ({"exif_tid": None}, ("Tidspunkt", "Aar")),
    ],
)
def test_not_null_columns(changes: dict[str, Any], missing: tuple[str, ...]) -> None:
    row = format_row(load_table_spec("VEGBILDER"), record(**changes))
    assert row.missing_not_null == missing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "table: T\nprimary_key: ID\ncolumns: [{name: ID, type: blob, source: a}]",
            "type 'blob' is not one of",
        ),
        (
            "table: T\nprimary_key: X\ncolumns: [{name: ID, type: string, length: 5, source: a}]",
            "primary_key",
        ),
        ("table: T\nprimary_key: ID\ncolumns: [{name: ID, type: string, source: a}]", "positive length"),
        ("table: T\nprimary_key: ID\ncolumns: [{name: ID, type: string, length: 5}]", "needs a source"),
        (
            "table: T\nprimary_key: ID\ncolumns: [{name: ID, type: text, source: a, colour: 1}]",
            "unknown column",
        ),
    ],
)
def test_bad_table_definitions_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_table_spec(path)
    assert str(path) in str(info.value)


def test_unknown_table_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="VEGBILDER, VEGBILDER_V1"):
        load_table_spec("NO_SUCH_TABLE")


# --- SQLite ---------------------------------------------------------------------------------------------


def test_sink_flushes_in_batches_and_on_close(tmp_path: Path) -> None:
    config = make_config(tmp_path, db_max_n_accumulated_rows=2)
    sink = DatabaseSink(config, cache_dir=tmp_path / "cache")
    assert sink.url.startswith("sqlite:///") and sink.url.endswith("masksmith-vegbilder.sqlite")
    sink.add(record("a"))
    assert sqlite_rows(sink) == [] and sink.pending_keys() == ("a",)
    assert sink.cache_file is not None and sink.cache_file.is_file()
    sink.add(record("b"))
    assert [r[0] for r in sqlite_rows(sink)] == ["a", "b"]
    assert not sink.cache_file.exists()
    sink.add(record("c"))
    assert len(sqlite_rows(sink)) == 2
    sink.close()
    assert [r[0] for r in sqlite_rows(sink)] == ["a", "b", "c"]
    assert (sink.stats.inserted, sink.stats.updated, sink.stats.pending) == (3, 0, 0)
    with pytest.raises(SinkError, match="closed"):
        sink.add(record("d"))


@pytest.mark.parametrize("upsert", ["auto", "portable"])
def test_duplicate_keys_update_instead_of_duplicating(tmp_path: Path, upsert: str) -> None:
    config = make_config(tmp_path, db_max_n_accumulated_rows=2)
    with DatabaseSink(config, cache_dir=tmp_path, upsert=upsert) as sink:  # type: ignore[arg-type]
        sink.add(record("a"))
        sink.add(record("b"))
        sink.add(record("a", mappenavn="Vegbilder/changed"))
        sink.add(record("c"))
    assert sqlite_rows(sink) == [
        ("a", "Vegbilder/changed"),
        ("b", "Vegbilder/2021/E6"),
        ("c", "Vegbilder/2021/E6"),
    ]
    assert (sink.stats.inserted, sink.stats.updated) == (3, 1)


def test_same_key_twice_before_a_flush_keeps_the_last(tmp_path: Path) -> None:
    config = make_config(tmp_path, db_max_n_accumulated_rows=10)
    with DatabaseSink(config, cache_dir=tmp_path) as sink:
        sink.add(record("a", mappenavn="first"))
        sink.add(record("a", mappenavn="second"))
    assert sqlite_rows(sink) == [("a", "second")]


def test_rows_missing_not_null_values_are_rejected_with_the_column(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with DatabaseSink(config, cache_dir=tmp_path) as sink:
        with pytest.raises(RowRejected, match="Dataeier") as info:
            sink.add(record("a", exif_dataeier=None))
        assert "Fy50_E6_S1D1_m01234_f1.jpg" in str(info.value)
        with pytest.raises(RowRejected, match="ID"):
            sink.add(record(""))
    assert sink.stats.rejected == 2 and sqlite_rows(sink) == []
    rejected = (tmp_path / "db-rejected-vegbilder.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rejected) == 2 and "Dataeier" in json.loads(rejected[0])["error"]


def test_cache_replay_after_the_database_was_down(tmp_path: Path) -> None:
    config = make_config(tmp_path, db_max_n_accumulated_rows=2)
    dead = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'rows.sqlite'}"
    cache = tmp_path / "cache"
    down = DatabaseSink(config, cache_dir=cache, url=dead)
    for key in "abc":
        down.add(record(key))
    assert down.stats.unreachable == 1  # one attempt at two rows, then back-off until two more
    assert down.pending_keys() == ("a", "b", "c")
    lines = (cache / "db-pending-vegbilder.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["bildeid"] for line in lines] == ["a", "b", "c"]
    # crash: the process dies without close(); the next start replays the cache
    up = DatabaseSink(config, cache_dir=cache)
    assert up.stats.replayed == 3 and up.pending_keys() == ()
    assert not (cache / "db-pending-vegbilder.jsonl").exists()
    up.add(record("a"))  # the re-run of an image already written by the replay
    up.close()
    assert [r[0] for r in sqlite_rows(up)] == ["a", "b", "c"]
    assert up.stats.updated == 1


def test_cache_size_limit_stops_the_run_and_keeps_the_rows(tmp_path: Path) -> None:
    config = make_config(tmp_path, db_max_n_accumulated_rows=2, db_max_cache_size=3, db_max_n_errors=100)
    dead = f"sqlite:///{tmp_path / 'missing' / 'rows.sqlite'}"
    sink = DatabaseSink(config, cache_dir=tmp_path, url=dead)
    for key in "abc":
        sink.add(record(key))
    with pytest.raises(SinkLimitExceeded, match="4 unsent rows exceed db_max_cache_size=3") as info:
        sink.add(record("d"))
    assert info.value.argument == "db_max_cache_size"
    assert len((tmp_path / "db-pending-vegbilder.jsonl").read_text().splitlines()) == 4


def test_error_limit(tmp_path: Path) -> None:
    config = make_config(tmp_path, db_max_n_errors=1)
    sink = DatabaseSink(config, cache_dir=tmp_path)
    with pytest.raises(RowRejected):
        sink.add(record("a", exif_vegkat=None))
    with pytest.raises(SinkLimitExceeded, match="2 database errors") as info:
        sink.add(record("b", exif_vegkat=None))
    assert info.value.argument == "db_max_n_errors"


def test_accumulation_larger_than_the_cache_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, db_max_n_accumulated_rows=50, db_max_cache_size=10)
    with pytest.raises(ConfigError, match="db_max_n_accumulated_rows"):
        DatabaseSink(config, cache_dir=tmp_path)


def test_sink_is_thread_safe(tmp_path: Path) -> None:
    config = make_config(tmp_path, db_max_n_accumulated_rows=7)
    sink = DatabaseSink(config, cache_dir=tmp_path)

    def worker(offset: int) -> None:
        for i in range(25):
            sink.add(record(f"{offset:02d}-{i:03d}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.close()
    assert len(sqlite_rows(sink)) == 100 and sink.stats.inserted == 100


def test_sink_from_config_is_null_when_db_writing_is_off(tmp_path: Path) -> None:
    sink = sink_from_config(load_config(None), cache_dir=tmp_path)
    assert isinstance(sink, NullSink)
    sink.add(record())
    assert sink.flush() is None and sink.stats.inserted == 0
    sink.close()
    assert list(tmp_path.iterdir()) == []


def test_sink_from_config_defaults_to_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = make_config(tmp_path, db_max_n_accumulated_rows=5)
    sink = sink_from_config(config)
    assert isinstance(sink, DatabaseSink)
    sink.add(record("a"))
    assert sink.cache_file == tmp_path / "state" / "masksmith" / "anonymise" / "db-pending-vegbilder.jsonl"
    assert sink.cache_file.is_file()
    sink.close()
    assert sink.url.endswith("state/masksmith/anonymise/masksmith-vegbilder.sqlite")
    assert sqlite_rows(sink) == [("a", "Vegbilder/2021/E6")]


def test_missing_table_without_create_is_a_clear_error(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with pytest.raises(SinkError, match=r"does not exist.*create-table"):
        DatabaseSink(config, cache_dir=tmp_path, create=False)


def test_urls_with_passwords_are_refused_and_rendered_hidden(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with pytest.raises(ConfigError, match="must not contain a password"):
        database_url(config, url="postgresql+psycopg://u:hunter2@h/db")
    assert "hunter2" not in render_url("postgresql+psycopg://u:hunter2@h/db")
    with pytest.raises(ConfigError, match="db_url"):
        database_url(config)


def test_create_table_and_run_sql_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    spec = load_table_spec("VEGBILDER")
    ddl = create_table(engine, spec)
    assert "CREATE TABLE vegbilder" in ddl and "posisjon VARCHAR(160)" in ddl
    run_sql(
        engine,
        "INSERT INTO vegbilder (id, tidspunkt, dataeier, bildetype, fylkenummer, vegkategori, "
        "vegstatus, vegnummer, meter, mappenavn, filnavn, jsondata, aar, feltkode) VALUES "
        "('k', '2021-01-01 00:00:00', 'o', 'P', 50, 'E', 'V', 6, 1, 'm', 'f', '{}', 2021, '1')",
    )
    result = run_sql(engine, "SELECT id, vegnummer FROM vegbilder")
    assert result.columns == ("id", "vegnummer") and result.rows == (("k", 6),)
    create_table(engine, spec, drop=True)
    assert run_sql(engine, "SELECT count(*) FROM vegbilder").rows == ((0,),)
    with pytest.raises(SinkError, match="no such table"):
        run_sql(engine, "SELECT * FROM nothing_here")
    engine.dispose()


# --- PostgreSQL + PostGIS -------------------------------------------------------------------------------


@pytest.fixture
def pg_table(postgres: PostgresServer) -> str:
    """A fresh vegbilder table name per test (tables are dropped first)."""
    postgres.psql("DROP TABLE IF EXISTS vegbilder", database="masksmith_test")
    return "vegbilder"


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASKSMITH_DB_PASSWORD", PASSWORD)


@pytest.mark.usefixtures("pg_table", "pg_env")
def test_postgis_point_column_and_upsert(tmp_path: Path, postgres: PostgresServer) -> None:
    config = make_config(tmp_path, db_url=postgres.url(), db_max_n_accumulated_rows=2)
    with DatabaseSink(config, cache_dir=tmp_path) as sink:
        sink.add(record("a"))
        sink.add(record("b", exif_gpsposisjon="srid=4326;POINT Z( 5.5 60.25 NaN )"))
        sink.add(record("a", mappenavn="Vegbilder/changed"))
    assert (sink.stats.inserted, sink.stats.updated) == (2, 1)
    db = "masksmith_test"
    assert (
        postgres.psql(
            "SELECT type, srid, coord_dimension FROM geometry_columns WHERE f_table_name = 'vegbilder' "
            "AND f_geometry_column = 'posisjon'",
            database=db,
        )
        == "POINT|4326|3"
    )
    assert postgres.psql(
        "SELECT id, ST_X(posisjon), ST_Y(posisjon), ST_Z(posisjon), mappenavn, aar FROM vegbilder ORDER BY id",
        database=db,
    ).splitlines() == [
        "a|10.3951|63.4305|45.3|Vegbilder/changed|2021",
        "b|5.5|60.25|NaN|Vegbilder/2021/E6|2021",
    ]
    assert "USING gist" in postgres.psql(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'vegbilder'", database=db
    )
    assert (
        postgres.psql("SELECT detekterteobjekter::json->>'car' FROM vegbilder WHERE id='a'", database=db)
        == "3"
    )


@pytest.mark.usefixtures("pg_table", "pg_env")
def test_postgres_flip_wkt(tmp_path: Path, postgres: PostgresServer) -> None:
    config = make_config(tmp_path, db_url=postgres.url(), flip_wkt=True)
    with DatabaseSink(config, cache_dir=tmp_path) as sink:
        sink.add(record("a"))
    assert postgres.psql(
        "SELECT ST_X(posisjon), ST_Y(posisjon) FROM vegbilder", database="masksmith_test"
    ) == ("63.4305|10.3951")


@pytest.mark.usefixtures("pg_table", "pg_env")
def test_postgres_rejects_one_bad_row_and_keeps_the_rest(tmp_path: Path, postgres: PostgresServer) -> None:
    config = make_config(tmp_path, db_url=postgres.url(), db_max_n_accumulated_rows=3)
    DatabaseSink(config, cache_dir=tmp_path).close()  # creates the table
    postgres.psql(
        "ALTER TABLE vegbilder ADD CONSTRAINT meter_positive CHECK (meter >= 0)", database="masksmith_test"
    )
    with DatabaseSink(config, cache_dir=tmp_path) as sink:
        sink.add(record("a"))
        sink.add(record("bad", exif_meter="-5"))
        sink.add(record("c"))
    assert sink.stats.rejected == 1 and sink.stats.inserted == 2
    assert (
        postgres.psql("SELECT string_agg(id, ',' ORDER BY id) FROM vegbilder", database="masksmith_test")
        == "a,c"
    )
    rejected = [
        json.loads(line) for line in (tmp_path / "db-rejected-vegbilder.jsonl").read_text().splitlines()
    ]
    assert [r["row"]["bildeid"] for r in rejected] == ["bad"] and "meter_positive" in rejected[0]["error"]


@pytest.mark.usefixtures("pg_table", "pg_env")
def test_postgres_outage_rows_cached_and_replayed_without_duplicates(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    config = make_config(tmp_path, db_url=postgres.url(), db_max_n_accumulated_rows=2)
    first = DatabaseSink(config, cache_dir=tmp_path)
    first.add(record("a"))
    first.add(record("b"))  # written
    postgres.stop()
    try:
        first.add(record("c"))
        first.add(record("b", mappenavn="Vegbilder/rerun"))  # flush fails: server down
        first.add(record("d"))
        assert first.stats.unreachable >= 1
        assert set(first.pending_keys()) == {"b", "c", "d"}
        # the run dies here (no close); the cache file holds the unsent rows
    finally:
        postgres.start()
    second = DatabaseSink(config, cache_dir=tmp_path)
    assert second.stats.replayed == 3
    second.add(record("c"))  # the restarted run redoes an image: an update, not a duplicate
    second.close()
    assert (
        postgres.psql(
            "SELECT string_agg(id || ':' || mappenavn, ',' ORDER BY id) FROM vegbilder",
            database="masksmith_test",
        )
        == "a:Vegbilder/2021/E6,b:Vegbilder/rerun,c:Vegbilder/2021/E6,d:Vegbilder/2021/E6"
    )
    assert not (tmp_path / "db-pending-vegbilder.jsonl").exists()


@pytest.mark.usefixtures("pg_table")
def test_postgres_password_from_env_never_logged(
    tmp_path: Path,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = make_config(tmp_path, db_url=postgres.url())
    monkeypatch.setenv("MASKSMITH_DB_PASSWORD", "wrong-password-123")
    with pytest.raises(SinkError, match="password authentication failed") as info:
        DatabaseSink(config, cache_dir=tmp_path)
    assert "wrong-password-123" not in str(info.value)
    monkeypatch.setenv("MASKSMITH_DB_PASSWORD", PASSWORD)
    with DatabaseSink(config, cache_dir=tmp_path) as sink:
        sink.add(record("a"))
    assert sink.stats.inserted == 1 and PASSWORD not in sink.url
    assert "wrong-password-123" not in caplog.text and PASSWORD not in caplog.text


@pytest.mark.usefixtures("pg_env")
def test_postgres_encrypted_password(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    from masksmith.anonymise.config import encrypt_secret

    key = Fernet.generate_key().decode()
    monkeypatch.delenv("MASKSMITH_DB_PASSWORD")
    monkeypatch.setenv("MASKSMITH_DB_KEY", key)
    config = make_config(tmp_path, db_url=postgres.url(), db_encrypted_password=encrypt_secret(PASSWORD, key))
    url = database_url(config)
    assert url.password == PASSWORD and PASSWORD not in render_url(url)
    engine = make_engine(url)
    assert run_sql(engine, "SELECT postgis_lib_version() IS NOT NULL").rows == ((True,),)
    engine.dispose()


@pytest.mark.usefixtures("pg_table", "pg_env")
def test_postgres_create_table_ddl_and_schema(tmp_path: Path, postgres: PostgresServer) -> None:
    config = make_config(tmp_path, db_url=postgres.url(), db_schema="bilder")
    engine = make_engine(database_url(config))
    ddl = create_table(engine, load_table_spec("VEGBILDER"), schema="bilder")
    assert "geometry(PointZ, 4326)" in ddl and "geometry(Point, 25833)" in ddl and "USING gist" in ddl
    with DatabaseSink(config, cache_dir=tmp_path) as sink:
        sink.add(record("a"))
    assert run_sql(engine, "SELECT id FROM bilder.vegbilder").rows == (("a",),)
    engine.dispose()
    postgres.psql("DROP SCHEMA bilder CASCADE", database="masksmith_test")


def test_oracle_ddl_compiles_without_a_server() -> None:
    # Oracle is documented, not run: the table must at least compile for its dialect.
    from sqlalchemy.dialects import oracle
    from sqlalchemy.schema import CreateTable

    from masksmith.anonymise.tables import sa_table

    table = sa_table(load_table_spec("VEGBILDER"), sa.MetaData(), dialect="oracle")
    ddl = str(CreateTable(table).compile(dialect=oracle.dialect()))
    assert "id VARCHAR2(256 CHAR) NOT NULL" in ddl and "jsondata CLOB NOT NULL" in ddl
    assert "posisjon VARCHAR2(160 CHAR)" in ddl and "PRIMARY KEY (id)" in ddl
    assert not table.indexes  # the GiST index is PostgreSQL only
