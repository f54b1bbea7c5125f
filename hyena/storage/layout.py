"""Where a partition lives: `<source>/<year>-<quarter>/<ISO week>/<day of month>/<uuid>/`.

The path is derived from the timestamp of the partition's first row once, when the partition is
created, and then stored in metadata; it is never recomputed (Decision 11 of the protocol spec).
Calendar arithmetic is done on integers so that every accepted timestamp (up to year 262143)
has a path; Python's datetime stops at year 9999.
"""
from __future__ import annotations

import uuid

__all__ = ["civil_date", "iso_week", "partition_dir", "new_partition_id"]

_US_PER_DAY = 86_400_000_000


def civil_date(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian date `days` after 1970-01-01."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(year: int, month: int, day: int) -> int:
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _iso_weekday(days: int) -> int:
    """1 = Monday ... 7 = Sunday; 1970-01-01 was a Thursday."""
    return (days + 3) % 7 + 1


def _weeks_in_year(year: int) -> int:
    jan1 = _iso_weekday(_days_from_civil(year, 1, 1))
    return 53 if jan1 == 4 or (jan1 == 3 and _is_leap(year)) else 52


def iso_week(days: int) -> int:
    """ISO 8601 week number (1..53) of the date `days` after the epoch."""
    year, _, _ = civil_date(days)
    ordinal = days - _days_from_civil(year, 1, 1) + 1
    week = (ordinal - _iso_weekday(days) + 10) // 7
    if week < 1:
        return _weeks_in_year(year - 1)
    if week > _weeks_in_year(year):
        return 1
    return week


def partition_dir(source: int, first_ts_us: int, partition_id: uuid.UUID) -> str:
    """Path of a partition relative to the data directory, from its first row's timestamp."""
    days = first_ts_us // _US_PER_DAY
    year, month, day = civil_date(days)
    quarter = (month - 1) // 3 + 1
    return f"{source}/{year}-{quarter}/{iso_week(days):02d}/{day:02d}/{partition_id}"


def new_partition_id() -> uuid.UUID:
    return uuid.uuid4()
