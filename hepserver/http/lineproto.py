"""InfluxDB line protocol into hyena, and back out as SQL tables named after measurements.

    cpu,host=a,region=eu usage=0.64,cores=8i,ok=true 1764000000000000000

Each measurement goes to its own source (1000 + crc32(name) mod 2^32 - 1000; HEP types stay
below 1000) with its name in `lp_measurement`. Tags and fields become nullable hyena columns
named by kind, so a key keeps one type: `lpt_<key>` tags and `lps_<key>` string fields
(strings), `lpi_<key>` integers (i64), `lpu_<key>` unsigned (u64), `lpf_<key>` floats (kept as
their decimal text, exactly), `lpb_<key>` booleans (u8). In SQL a measurement is a table whose
columns are `timestamp`, `time` and its tag and field keys with their types (floats as
DOUBLE, booleans as BOOLEAN). Bad lines are reported by number and skipped; good lines are
kept.
"""
from __future__ import annotations

import re
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["LineProtocol", "parse_lines", "Point", "source_of"]

# precision -> (multiply, divide) to get microseconds
_PRECISION = {"ns": (1, 1000), "n": (1, 1000), "us": (1, 1), "u": (1, 1), "ms": (1000, 1),
              "s": (1_000_000, 1)}
_KINDS = {"i": ("lpi_", "i64_sparse"), "u": ("lpu_", "u64_sparse"),
          "f": ("lpf_", "string_sparse"), "s": ("lps_", "string_sparse"),
          "b": ("lpb_", "u8_sparse"), "t": ("lpt_", "string_sparse")}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, tuple[str, Any]]  # key -> (kind i/u/f/s/b, value)
    ts_us: int | None


def source_of(measurement: str) -> int:
    return 1000 + zlib.crc32(measurement.encode()) % ((1 << 32) - 1000)


def _split(text: str, separator: str) -> list[str]:
    """Split on a separator that is neither escaped by a backslash nor inside quotes."""
    parts, current, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if quoted:
        raise ValueError("unterminated string")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _field_value(raw: str) -> tuple[str, Any]:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise ValueError(f"bad string value {raw[:20]!r}")
        return "s", raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if raw in ("t", "T", "true", "True", "TRUE"):
        return "b", 1
    if raw in ("f", "F", "false", "False", "FALSE"):
        return "b", 0
    if raw.endswith("i"):
        return "i", int(raw[:-1])
    if raw.endswith("u"):
        value = int(raw[:-1])
        if value < 0:
            raise ValueError("unsigned value below 0")
        return "u", value
    float(raw)  # validates
    return "f", raw


def parse_lines(body: str, precision: str = "ns") -> tuple[list[Point], list[dict]]:
    """Points, and an error per bad line: {"line": n, "error": text}."""
    if precision not in _PRECISION:
        raise ValueError(f"precision must be one of {', '.join(_PRECISION)}")
    points, errors = [], []
    for number, line in enumerate(body.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            sections = _split(line, " ")
            sections = [s for s in sections if s != ""]
            if len(sections) not in (2, 3):
                raise ValueError("expected: measurement[,tags] fields [timestamp]")
            head = _split(sections[0], ",")
            measurement = _unescape(head[0])
            if not _NAME.match(measurement):
                raise ValueError(f"measurement names are letters, digits and _ ({measurement!r})")
            tags = {}
            for pair in head[1:]:
                key, eq, value = pair.partition("=")
                if not eq or not key or not value:
                    raise ValueError(f"bad tag {pair!r}")
                tags[_unescape(key)] = _unescape(value)
            fields = {}
            for pair in _split(sections[1], ","):
                key, eq, value = pair.partition("=")
                if not eq or not key or not value:
                    raise ValueError(f"bad field {pair!r}")
                fields[_unescape(key)] = _field_value(value)
            ts = None
            if len(sections) == 3:
                multiply, divide = _PRECISION[precision]
                ts = int(sections[2]) * multiply // divide
                if ts < 0:
                    raise ValueError("timestamp before 1970")
            points.append(Point(measurement, tags, fields, ts))
        except ValueError as exc:
            errors.append({"line": number, "error": str(exc)})
    return points, errors


@dataclass
class LineProtocol:
    """Writes points to hyena and builds SQL views of measurements."""

    db: Any
    known: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if "lp_measurement" in {c.name for c in self.db.columns}:
            self.known = {k for k in self.db.count(by="lp_measurement") if k}

    def write(self, points: list[Point], now_us: int) -> tuple[int, list[dict]]:
        """Append points (by measurement); a point whose keys clash with a column of another
        type is an error of its own line. Returns (rows stored, errors)."""
        errors: list[dict] = []
        with self._lock:
            self._column("lp_measurement", "string_sparse")
            by_measurement: dict[str, list[Point]] = {}
            for n, point in enumerate(points):
                try:
                    for key in point.tags:
                        self._column("lpt_" + key, "string_sparse")
                    for key, (kind, _) in point.fields.items():
                        prefix, ctype = _KINDS[kind]
                        self._column(prefix + key, ctype)
                except ValueError as exc:
                    errors.append({"point": n, "error": str(exc)})
                    continue
                by_measurement.setdefault(point.measurement, []).append(point)
            stored = 0
            for name, group in by_measurement.items():
                columns: dict[str, list] = {"lp_measurement": [name] * len(group)}
                for i, point in enumerate(group):
                    for key, value in point.tags.items():
                        columns.setdefault("lpt_" + key, [None] * len(group))[i] = value
                    for key, (kind, value) in point.fields.items():
                        columns.setdefault(_KINDS[kind][0] + key, [None] * len(group))[i] = value
                ts = [p.ts_us if p.ts_us is not None else now_us for p in group]
                stored += self.db.append(source_of(name), ts, columns)
                self.known.add(name)
            return stored, errors

    def _column(self, name: str, ctype: str) -> None:
        """Make sure the column exists; a key keeps the kind (tag, string, integer...) it
        was first written with."""
        if not _NAME.match(name):
            raise ValueError(f"keys are letters, digits and _ ({name[4:]!r})")
        columns = {c.name: c for c in self.db.columns}
        if name in columns:
            return
        key = name[4:]
        if name != "lp_measurement":
            for prefix, _ in _KINDS.values():
                if prefix + key in columns:
                    raise ValueError(f"{key!r} already has another type ({prefix[:3]})")
        self.db.add_column(name, ctype)

    def referenced(self, sql: str) -> list[str]:
        return [name for name in self.known if re.search(rf"\b{re.escape(name)}\b", sql)]

    def view(self, con, name: str, window: tuple[int, int]) -> None:
        """A temporary view `name` over this measurement's rows in the window."""
        table = self.db.scan(sources=[source_of(name)], min_ts=window[0], max_ts=window[1],
                             filters=[("lp_measurement", "==", name)])
        columns = {"timestamp": table.column("ts").cast(pa.int64())
                   .cast(pa.timestamp("us", tz="UTC"))}
        for column in table.column_names:
            values = table.column(column)
            if column[:4] in ("lpt_", "lps_", "lpi_", "lpu_", "lpf_", "lpb_") and \
                    values.null_count < len(values):
                if column.startswith("lpf_"):
                    values = pc.cast(values, pa.float64())
                elif column.startswith("lpb_"):
                    values = pc.cast(values, pa.bool_())
                columns[column[4:]] = values
        arrow = pa.table(columns)
        con.register(f"__lp_{name}", arrow)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT *, timestamp AS time "
                    f"FROM __lp_{name}")

