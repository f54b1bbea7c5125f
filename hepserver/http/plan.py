"""What a query needs from the capture tables, read from DuckDB's own parse of it
(`json_serialize_sql`): the columns it may read, and the conditions every row it reads must
meet, so that hot rows are scanned and converted only as far as the query needs.

Both answers err on the safe side. `columns` is None (every column) when the query could read
columns it does not name: a star anywhere (`*`, `t.*`, `COLUMNS(...)`, `struct_pack(*)`; only
`count(*)` is exempt), a positional `#1`, a whole row (`SELECT h FROM hep_1 h`), column alias
lists, NATURAL joins, table functions, PIVOT, SUMMARIZE/DESCRIBE, or anything DuckDB cannot
serialize. Otherwise it is every word of the query text that could be a column name (string
literals included), a superset of what the query reads. `conditions` are taken only from the
top-level AND of the WHERE clause of a plain query on one table (one SELECT, no CTE, set
operation, subquery, join or sample), so every row of the result meets them; DuckDB still
checks every condition itself.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import duckdb

__all__ = ["QueryPlan", "Condition", "plan_query"]

Condition = tuple[str, str, Any]  # (column, op, value): op as hyena's scan filters name it

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL = re.compile(r"'(?:[^']|'')*'|\$\$.*?\$\$|--[^\n]*|/\*.*?\*/", re.S)
_COUNT_STAR = re.compile(r"\bcount\s*\(\s*\*\s*\)", re.I)
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT"}
_COMPARE = {"COMPARE_EQUAL": "==", "COMPARE_NOTEQUAL": "!=", "COMPARE_LESSTHAN": "<",
            "COMPARE_LESSTHANOREQUALTO": "<=", "COMPARE_GREATERTHAN": ">",
            "COMPARE_GREATERTHANOREQUALTO": ">="}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_STRING_FUNCTIONS = {"starts_with": "starts_with", "prefix": "starts_with",
                     "ends_with": "ends_with", "suffix": "ends_with", "contains": "contains"}


@dataclass(frozen=True)
class QueryPlan:
    columns: frozenset[str] | None  # lower-case names the query may read; None: all of them
    conditions: dict[str, list[Condition]] = field(default_factory=dict)  # by table name


def plan_query(con, sql: str, tables: set[str]) -> QueryPlan:
    """The plan of one SELECT over capture tables named in `tables` (lower case); `con` is a
    DuckDB connection to parse it with."""
    try:
        parsed = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    except duckdb.Error:
        return QueryPlan(None)
    if parsed.get("error") or len(parsed.get("statements", [])) != 1:
        return QueryPlan(None)
    node = parsed["statements"][0]["node"]
    try:
        columns = None if _reads_unnamed(sql, node) else \
            frozenset(w.lower() for w in _WORD.findall(sql))
        return QueryPlan(columns, _conditions(node, tables))
    except (KeyError, TypeError, AttributeError):  # a shape this module does not know
        return QueryPlan(None)


# --- columns ----------------------------------------------------------------------------------

def _walk(value: Any) -> Iterator[dict]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _reads_unnamed(sql: str, node: dict) -> bool:
    """True if the query may read a column without writing its name."""
    # string literals and comments cannot hold a star that reads columns; with a backslash
    # (E'...' escapes) literals are not told apart here, and the whole text counts
    code = _COUNT_STAR.sub("count()", sql if "\\" in sql else _LITERAL.sub("''", sql))
    if "*" in code:
        return True
    names: set[str] = set()
    refs: list[list[str]] = []
    for item in _walk(node):
        kind, cls = item.get("type"), item.get("class")
        if cls in ("STAR", "POSITIONAL_REFERENCE") or kind in ("PIVOT", "SHOW_REF",
                                                               "TABLE_FUNCTION"):
            return True
        if cls is None and kind in ("BASE_TABLE", "SUBQUERY", "JOIN"):  # a table reference
            if item.get("column_name_alias") or item.get("ref_type") == "NATURAL":
                return True
            if kind == "BASE_TABLE":
                names.add(item["table_name"].lower())
            if item.get("alias"):
                names.add(item["alias"].lower())
        if cls == "COLUMN_REF":
            refs.append(item["column_names"])
    return any(len(ref) == 1 and ref[0].lower() in names for ref in refs)


# --- conditions -------------------------------------------------------------------------------

def _conditions(node: dict, tables: set[str]) -> dict[str, list[Condition]]:
    if node.get("type") != "SELECT_NODE" or node["cte_map"]["map"] or node.get("sample"):
        return {}
    source = node.get("from_table") or {}
    if source.get("type") != "BASE_TABLE" or source.get("sample") or \
            source.get("schema_name") or source.get("catalog_name"):
        return {}
    table = source["table_name"].lower()
    if table not in tables:
        return {}
    items = list(_walk(node))
    if sum(1 for i in items if i.get("type") == "BASE_TABLE" and "class" not in i) != 1 or \
            any(i.get("class") == "SUBQUERY" for i in items):
        return {}
    qualifiers = {table} | ({source["alias"].lower()} if source.get("alias") else set())
    out: list[Condition] = []
    for term in _conjuncts(node.get("where_clause")):
        out += _condition(term, qualifiers)
    return {table: out} if out else {}


def _conjuncts(expression: dict | None) -> Iterator[dict]:
    if expression is None:
        return
    if expression.get("type") == "CONJUNCTION_AND":
        for child in expression["children"]:
            yield from _conjuncts(child)
    else:
        yield expression


def _column(expression: dict, qualifiers: set[str]) -> str | None:
    if expression.get("class") != "COLUMN_REF":
        return None
    names = [n.lower() for n in expression["column_names"]]
    if len(names) == 1:
        return names[0]
    if len(names) == 2 and names[0] in qualifiers:
        return names[1]
    return None


def _constant(expression: dict) -> tuple[bool, Any]:
    """(True, value) for a non-null VARCHAR or integer literal."""
    if expression.get("class") != "CONSTANT":
        return False, None
    value = expression["value"]
    kind = value["type"]["id"]
    if value.get("is_null"):
        return False, None
    if kind == "VARCHAR" and isinstance(value.get("value"), str):
        return True, value["value"]
    if kind in _INTEGERS and isinstance(value.get("value"), int) and \
            not isinstance(value.get("value"), bool):
        return True, value["value"]
    return False, None


def _condition(term: dict, qualifiers: set[str]) -> list[Condition]:
    cls, kind = term.get("class"), term.get("type")
    if cls == "COMPARISON" and kind in _COMPARE:
        op = _COMPARE[kind]
        left, right = term["left"], term["right"]
        column, (ok, value) = _column(left, qualifiers), _constant(right)
        if column is None:
            column, (ok, value) = _column(right, qualifiers), _constant(left)
            op = _FLIP[op]
        return [(column, op, value)] if column is not None and ok else []
    if cls == "BETWEEN":
        column = _column(term["input"], qualifiers)
        (low_ok, low), (high_ok, high) = _constant(term["lower"]), _constant(term["upper"])
        if column is None or not (low_ok and high_ok) or type(low) is not type(high):
            return []
        return [(column, ">=", low), (column, "<=", high)]
    if cls == "OPERATOR" and kind == "COMPARE_IN":
        column = _column(term["children"][0], qualifiers)
        values = [_constant(c) for c in term["children"][1:]]
        if column is None or not values or not all(ok for ok, _ in values) or \
                len({type(v) for _, v in values}) != 1:
            return []
        return [(column, "in", [v for _, v in values])]
    if cls == "FUNCTION" and len(term.get("children", [])) == 2 and not term.get("filter"):
        name = term["function_name"].lower()
        column = _column(term["children"][0], qualifiers)
        ok, value = _constant(term["children"][1])
        if column is None or not ok or not isinstance(value, str):
            return []
        if name == "~~":
            return [(column, op, text) for op, text in _like(value)]
        if name in _STRING_FUNCTIONS and value:
            return [(column, _STRING_FUNCTIONS[name], value)]
    return []


def _like(pattern: str) -> list[tuple[str, str]]:
    """String tests every value matching a LIKE pattern passes (no `_`, default escape)."""
    if "_" in pattern or "\\" in pattern:
        return []
    pieces = pattern.split("%")
    if len(pieces) == 1:
        return [("==", pattern)]
    out = [("starts_with", pieces[0])] if pieces[0] else []
    out += [("contains", p) for p in pieces[1:-1] if p]
    out += [("ends_with", pieces[-1])] if pieces[-1] else []
    return out
