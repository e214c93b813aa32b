"""Database table definitions of ``masksmith anonymise`` (YAML) and metadata record → row formatting.

A table file (shipped ones in ``anonymise/db_tables/``) lists columns in portable types::

    table: VEGBILDER
    primary_key: ID
    columns:
      - {name: ID, type: string, length: 256, source: bildeid}
      - {name: Tidspunkt, type: timestamp, source: exif_tid, not_null: true}
      - {name: Posisjon, type: point, source: exif_gpsposisjon, srid: 4326, dims: 3}

Types: ``string`` (needs ``length``), ``text``, ``integer``, ``number``, ``timestamp``, ``point``. ``source``
is a JSON key or a list of keys (first non-empty wins); ``formatter`` is one of :class:`Formatter`.
Identifiers are lower-cased when the table is built, so they need no quoting in raw SQL and match the
upper-case names an Oracle table of the original gets for unquoted identifiers.

Formatting is pure (no SQLAlchemy); :func:`sa_table` imports SQLAlchemy lazily.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from masksmith.anonymise.metadata import parse_wkt_point
from masksmith.errors import ConfigError, ModelUnavailable

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "ColumnSpec",
    "ColumnType",
    "FormattedRow",
    "Formatter",
    "TableSpec",
    "available_tables",
    "format_row",
    "load_table_spec",
    "require_sqlalchemy",
    "sa_table",
]


class ColumnType(StrEnum):
    """Portable column types; see :func:`sa_table` for what each becomes per database."""

    STRING = "string"
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    TIMESTAMP = "timestamp"
    POINT = "point"


class Formatter(StrEnum):
    """How a column's value is derived from the metadata record."""

    VALUE = "value"  # the source value, converted to the column type
    YEAR = "year"  # the year of an ISO timestamp
    WKT_Z = "wkt_z"  # the Z (altitude) of a WKT point
    JSON = "json"  # the source value as JSON text
    DOCUMENT = "document"  # the whole record as JSON text


@dataclass(frozen=True)
class ColumnSpec:
    """One column: name as written in the YAML, portable type, where its value comes from."""

    name: str
    type: ColumnType
    sources: tuple[str, ...] = ()
    formatter: Formatter = Formatter.VALUE
    length: int | None = None
    not_null: bool = False
    srid: int = 4326
    dims: int = 3

    @property
    def key(self) -> str:
        """The identifier used in the database (lower case)."""
        return self.name.lower()


@dataclass(frozen=True)
class TableSpec:
    """A table definition loaded from YAML."""

    name: str
    primary_key: str
    columns: tuple[ColumnSpec, ...]
    path: Path | None = None

    @property
    def key(self) -> str:
        """The table identifier used in the database (lower case)."""
        return self.name.lower()

    @property
    def pk_column(self) -> ColumnSpec:
        """The primary key column."""
        return next(c for c in self.columns if c.name == self.primary_key)

    @property
    def pk_source(self) -> str:
        """The record key that fills the primary key (e.g. ``bildeid``)."""
        return self.pk_column.sources[0]


@dataclass(frozen=True)
class FormattedRow:
    """A record converted to column values; ``problems`` lists values that were dropped (set NULL)."""

    values: dict[str, Any]
    problems: tuple[str, ...]
    missing_not_null: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every NOT NULL column has a value."""
        return not self.missing_not_null


def _tables_dir() -> Path:
    return Path(str(resources.files("masksmith.anonymise").joinpath("db_tables")))


def available_tables() -> list[str]:
    """Names of the shipped table definitions."""
    return sorted(p.stem.upper() for p in _tables_dir().glob("*.yml"))


def load_table_spec(name_or_path: str | os.PathLike[str]) -> TableSpec:
    """Load a table definition: a shipped table by name (any case, e.g. ``VEGBILDER``) or a YAML file path."""
    text = os.fspath(name_or_path)
    path = Path(text)
    if not (text.endswith((".yml", ".yaml")) or path.is_file()):
        path = _tables_dir() / f"{text.lower()}.yml"
        if not path.is_file():
            raise ConfigError(
                f"no table definition {text!r}; shipped: {', '.join(available_tables())} "
                "(or give the path of a .yml file)",
                argument="table_name",
            )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("table definition not found", file=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML ({exc})", file=path) from None
    return _parse_spec(data, path)


def _parse_spec(data: Any, path: Path) -> TableSpec:
    if not isinstance(data, Mapping):
        raise ConfigError("a table definition must be a mapping with table, primary_key, columns", file=path)
    unknown = set(data) - {"table", "primary_key", "columns", "description"}
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)}", file=path)
    name, pk, raw_columns = data.get("table"), data.get("primary_key"), data.get("columns")
    if not isinstance(name, str) or not name:
        raise ConfigError("'table' must name the table", file=path, argument="table")
    if not isinstance(raw_columns, list) or not raw_columns:
        raise ConfigError("'columns' must be a non-empty list", file=path, argument="columns")
    columns = tuple(_parse_column(c, i, path) for i, c in enumerate(raw_columns))
    keys = [c.key for c in columns]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ConfigError(f"duplicate column(s) {duplicates}", file=path, argument="columns")
    pk_column = next((c for c in columns if c.name == pk), None)
    if pk_column is None:
        raise ConfigError(f"primary_key {pk!r} is not one of the columns", file=path, argument="primary_key")
    if not pk_column.sources or pk_column.type not in (ColumnType.STRING, ColumnType.INTEGER):
        raise ConfigError(
            "the primary key needs a source and type string or integer", file=path, argument="primary_key"
        )
    return TableSpec(name=name, primary_key=pk_column.name, columns=columns, path=path)


_COLUMN_KEYS = frozenset({"name", "type", "source", "formatter", "length", "not_null", "srid", "dims"})


def _parse_column(raw: Any, index: int, path: Path) -> ColumnSpec:
    where = f"columns[{index}]"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise ConfigError("each column needs a name", file=path, argument=where)
    where = f"{where} ({raw['name']})"
    unknown = set(raw) - _COLUMN_KEYS
    if unknown:
        raise ConfigError(f"unknown column key(s) {sorted(unknown)}", file=path, argument=where)
    try:
        ctype = ColumnType(str(raw.get("type", "")).lower())
    except ValueError:
        valid = ", ".join(t.value for t in ColumnType)
        raise ConfigError(
            f"type {raw.get('type')!r} is not one of {valid}", file=path, argument=where
        ) from None
    try:
        formatter = Formatter(str(raw.get("formatter", "value")).lower())
    except ValueError:
        valid = ", ".join(f.value for f in Formatter)
        message = f"formatter {raw.get('formatter')!r} is not one of {valid}"
        raise ConfigError(message, file=path, argument=where) from None
    source = raw.get("source")
    sources = (source,) if isinstance(source, str) else tuple(str(s) for s in source or ())
    if not sources and formatter is not Formatter.DOCUMENT:
        raise ConfigError("a column needs a source (JSON key)", file=path, argument=where)
    length = raw.get("length")
    if ctype is ColumnType.STRING and (not isinstance(length, int) or length < 1):
        raise ConfigError("a string column needs a positive length", file=path, argument=where)
    dims = int(raw.get("dims", 3))
    if dims not in (2, 3):
        raise ConfigError("dims must be 2 or 3", file=path, argument=where)
    return ColumnSpec(
        name=raw["name"],
        type=ctype,
        sources=sources,
        formatter=formatter,
        length=length if isinstance(length, int) else None,
        not_null=bool(raw.get("not_null", False)),
        srid=int(raw.get("srid", 4326)),
        dims=dims,
    )


# ---------------------------------------------------------------------------------------------- formatting


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "None", "null"))


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        try:  # the original's convert_comma_to_dot: "12,5" is 12.5
            number = Decimal(str(value).strip().replace(",", "."))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    return number if number.is_finite() else None


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO timestamp") from None


def _ewkt(value: Any, column: ColumnSpec, flip: bool) -> str | None:
    parsed = parse_wkt_point(str(value))
    if parsed is None:
        raise ValueError(f"{value!r} is not a 'srid=N;POINT Z( x y z )' string")
    srid, x, y, z = parsed
    if flip:
        x, y = y, x
    if srid != column.srid:
        raise ValueError(f"SRID {srid} differs from the column's {column.srid}")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError("the point has no finite coordinates")
    if column.dims == 2:
        return f"SRID={srid};POINT({x!r} {y!r})"
    return f"SRID={srid};POINT Z({x!r} {y!r} {'NaN' if z is None else repr(z)})"


def _convert(value: Any, column: ColumnSpec, flip: bool) -> Any:
    if column.type is ColumnType.POINT:
        return _ewkt(value, column, flip)
    if column.type is ColumnType.TIMESTAMP:
        return _timestamp(value)
    if column.type in (ColumnType.INTEGER, ColumnType.NUMBER):
        number = _decimal(value)
        if number is None:
            return None
        if column.type is ColumnType.NUMBER:
            return float(number)
        if number != number.to_integral_value():
            raise ValueError(f"{value!r} is not an integer")
        if not -(2**63) <= number < 2**63:
            raise ValueError(f"{value!r} is out of the 64-bit integer range")
        return int(number)
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, Mapping | list) else str(value)
    if column.length is not None and len(text) > column.length:
        raise ValueError(f"{len(text)} characters exceed the column's {column.length}")
    return text


def _value(record: Mapping[str, Any], column: ColumnSpec, flip: bool) -> Any:
    if column.formatter is Formatter.DOCUMENT:
        return json.dumps(dict(record), ensure_ascii=False)
    raw = next((record[s] for s in column.sources if not _empty(record.get(s))), None)
    if raw is None:
        return None
    if column.formatter is Formatter.JSON:
        raw = json.dumps(raw, ensure_ascii=False)
    elif column.formatter is Formatter.YEAR:
        raw = _timestamp(raw).year
    elif column.formatter is Formatter.WKT_Z:
        parsed = parse_wkt_point(str(raw))
        if parsed is None:
            raise ValueError(f"{raw!r} is not a WKT point")
        raw = parsed[3]
        if raw is None:
            return None
    return _convert(raw, column, flip)


def format_row(spec: TableSpec, record: Mapping[str, Any], *, flip_wkt: bool = False) -> FormattedRow:
    """Convert a metadata record to ``{column key: value}``.

    A value that cannot be converted becomes NULL and is listed in ``problems`` (the original did the same);
    NOT NULL columns (and the primary key) left empty are listed in ``missing_not_null``.
    ``flip_wkt`` swaps the first two coordinates of point values (the original's ``flip_wkt``).
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    missing: list[str] = []
    for column in spec.columns:
        try:
            value = _value(record, column, flip_wkt)
        except ValueError as exc:
            problems.append(f"{column.name}: {exc}")
            value = None
        values[column.key] = value
        if value is None and (column.not_null or column.name == spec.primary_key):
            missing.append(column.name)
    return FormattedRow(values=values, problems=tuple(problems), missing_not_null=tuple(missing))


# ---------------------------------------------------------------------------------------------- SQLAlchemy


def require_sqlalchemy() -> Any:
    """Import SQLAlchemy or raise ModelUnavailable with the install hint."""
    try:
        import sqlalchemy
    except ImportError:
        raise ModelUnavailable(
            "database output needs SQLAlchemy: pip install 'masksmith[db]'", argument="write_exif_to_db"
        ) from None
    return sqlalchemy


def _postgis_point_type(srid: int, dims: int) -> Any:
    sa = require_sqlalchemy()
    from sqlalchemy.types import UserDefinedType

    class PostgisPoint(UserDefinedType[str]):
        """``geometry(PointZ, srid)``: bound from EWKT text, read back as EWKT text."""

        cache_ok = True

        def __init__(self, srid: int, dims: int) -> None:
            self.srid = srid
            self.dims = dims

        def get_col_spec(self, **kw: Any) -> str:
            return f"geometry({'PointZ' if self.dims == 3 else 'Point'}, {self.srid})"

        def bind_expression(self, bindvalue: Any) -> Any:
            return sa.func.ST_GeomFromEWKT(bindvalue, type_=self)

        def column_expression(self, colexpr: Any) -> Any:
            return sa.func.ST_AsEWKT(colexpr, type_=sa.Text)

    return PostgisPoint(srid, dims)


def _sa_type(column: ColumnSpec, dialect: str) -> Any:
    sa = require_sqlalchemy()
    match column.type:
        case ColumnType.STRING:
            return sa.String(column.length)
        case ColumnType.TEXT:
            return sa.Text()
        case ColumnType.INTEGER:
            return sa.BigInteger()
        case ColumnType.NUMBER:
            return sa.Double()
        case ColumnType.TIMESTAMP:
            return sa.DateTime()
        case ColumnType.POINT:
            if dialect == "postgresql":
                return _postgis_point_type(column.srid, column.dims)
            # Elsewhere the EWKT text (SpatiaLite/Oracle can convert it with their own functions).
            return sa.String(160)
    raise AssertionError(column.type)  # pragma: no cover


def sa_table(spec: TableSpec, metadata: sa.MetaData, *, dialect: str, schema: str | None = None) -> sa.Table:
    """The SQLAlchemy table of ``spec`` for a dialect name (``postgresql``, ``sqlite``, ``oracle``, ...).

    Points are PostGIS ``geometry(PointZ, srid)`` with a GiST index on PostgreSQL and EWKT text elsewhere.
    """
    sqla = require_sqlalchemy()
    columns = [
        sqla.Column(
            c.key,
            _sa_type(c, dialect),
            primary_key=c.name == spec.primary_key,
            nullable=not (c.not_null or c.name == spec.primary_key),
        )
        for c in spec.columns
    ]
    table: sa.Table = sqla.Table(spec.key, metadata, *columns, schema=schema)
    if dialect == "postgresql":
        for c in spec.columns:
            if c.type is ColumnType.POINT:
                sqla.Index(f"{spec.key}_{c.key}_gist", table.c[c.key], postgresql_using="gist")
    return table
