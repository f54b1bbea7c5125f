"""The exported row: hyena's HEP columns as an analyst queries them in DuckDB.

- `timestamp`: a Parquet timestamp (microseconds, UTC); `hep_type`: the HEP protocol type.
- Addresses: `src_ip` text, `src_ip_v4` (number, IPv4 only), `src_ip_raw` (16 bytes, big
  endian); the same for `dst_ip` (see addresses.py).
- `rcinfo`: the HEP header as JSON, as HEPop and Homer store it (protocolFamily, protocol,
  srcIp, dstIp, srcPort, dstPort, timeSeconds, timeUseconds, payloadType, captureId,
  correlation_id), so queries written for them work.
- Every other column keeps its name and type; columns without a value are null.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from hepserver.export.addresses import address_columns

__all__ = ["export_table", "PROFILE_TABLES", "table_name"]

PROFILE_TABLES = ("call", "registration", "default")


def table_name(hep_type: int, profile: str | None = None) -> str:
    """Homer's table: hep_proto_1_call / _registration / _default, hep_proto_<t>_default."""
    if hep_type == 1 and profile in PROFILE_TABLES:
        return f"hep_proto_1_{profile}"
    return f"hep_proto_{hep_type}_default"


def _json_text(values: pa.Array) -> pa.Array:
    """A JSON string literal (quoted, escaped) per value; null stays null."""
    text = pc.replace_substring(values.cast(pa.string()), "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    return pc.binary_join_element_wise('"', text, '"', "")


def _rcinfo(table: pa.Table, src: pa.Array, dst: pa.Array, hep_type: int) -> pa.Array:
    ts = table.column("ts").combine_chunks()
    seconds = pc.divide(ts, pa.scalar(1_000_000, pa.uint64()))
    micros = pc.subtract(ts, pc.multiply(seconds, pa.scalar(1_000_000, pa.uint64())))
    num = lambda name: table.column(name).combine_chunks().cast(pa.string())  # noqa: E731
    capture = pc.fill_null(table.column("capture_id").combine_chunks().cast(pa.string()), "0")
    correlation = pc.fill_null(_json_text(table.column("correlation_id").combine_chunks()),
                               '""')
    parts = ['{"protocolFamily":', num("ip_family"), ',"protocol":', num("ip_proto"),
             ',"srcIp":', _json_text(src), ',"dstIp":', _json_text(dst),
             ',"srcPort":', num("src_port"), ',"dstPort":', num("dst_port"),
             ',"timeSeconds":', seconds.cast(pa.string()),
             ',"timeUseconds":', micros.cast(pa.string()),
             ',"payloadType":', str(hep_type), ',"captureId":', capture,
             ',"correlation_id":', correlation, "}"]
    return pc.binary_join_element_wise(*parts, "")


def export_table(table: pa.Table, hep_type: int) -> pa.Table:
    """The export form of rows read from hyena (read_partition of a HEP partition group)."""
    n = table.num_rows
    columns: dict[str, pa.Array] = {
        "timestamp": table.column("ts").combine_chunks().cast(pa.int64())
        .cast(pa.timestamp("us", tz="UTC")),
        "hep_type": pa.array([hep_type] * n, pa.uint16()) if n else pa.array([], pa.uint16()),
    }
    src = address_columns(table.column("src_ip").combine_chunks(), "src_ip")
    dst = address_columns(table.column("dst_ip").combine_chunks(), "dst_ip")
    columns.update(src)
    columns.update(dst)
    columns["rcinfo"] = _rcinfo(table, src["src_ip"], dst["dst_ip"], hep_type)
    for name in table.column_names:
        if name not in ("ts", "source", "src_ip", "dst_ip"):
            columns[name] = table.column(name).combine_chunks()
    return pa.Table.from_pydict(columns)
