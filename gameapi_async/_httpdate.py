"""HTTP dates (``Date``, ``Retry-After``) in the three forms RFC 9110 says a recipient must read.

- IMF-fixdate: ``Sun, 06 Nov 1994 08:49:37 GMT`` (what servers send);
- RFC 850:     ``Sunday, 06-Nov-94 08:49:37 GMT`` (obsolete; two-digit year);
- asctime:     ``Sun Nov  6 08:49:37 1994`` (obsolete; no zone, and always UTC).

``email.utils`` reads the first two but returns asctime without a zone (so it was dropped),
and it puts two-digit years in 1969-2068 where RFC 9110 (section 5.6.7) wants the most recent
past year when the date would be more than 50 years ahead. The three forms are matched
exactly here; anything else falls back to ``email.utils``, kept only when it names a zone.
Pure: the current year is read only to place an RFC 850 two-digit year.
"""

from __future__ import annotations

import calendar
import re
import time
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["parse_http_date"]

_MONTHS: Final = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_MONTH: Final = "(?P<month>" + "|".join(_MONTHS) + ")"
_TIME: Final = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
_DAY_NAME: Final = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY_NAME: Final = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"

_IMF_FIXDATE: Final = re.compile(
    rf"{_DAY_NAME}, (?P<day>\d\d) {_MONTH} (?P<year>\d{{4}}) {_TIME} GMT", re.ASCII
)
_RFC850: Final = re.compile(
    rf"{_LONG_DAY_NAME}, (?P<day>\d\d)-{_MONTH}-(?P<year>\d\d) {_TIME} GMT", re.ASCII
)
_ASCTIME: Final = re.compile(
    rf"{_DAY_NAME} {_MONTH} (?P<day>[ \d]\d) {_TIME} (?P<year>\d{{4}})", re.ASCII
)


def _two_digit_year(yy: int) -> int:
    """RFC 9110: the year ending in ``yy`` not more than 50 years ahead of this one."""
    this_year = time.gmtime().tm_year
    year = this_year - this_year % 100 + yy
    return year - 100 if year > this_year + 50 else year


def _strict(value: str) -> float | None:
    for pattern in (_IMF_FIXDATE, _RFC850, _ASCTIME):
        match = pattern.fullmatch(value)
        if match is None:
            continue
        year = int(match["year"])
        if pattern is _RFC850:
            year = _two_digit_year(year)
        month = _MONTHS[match["month"]]
        day = int(match["day"])
        hour, minute = int(match["hour"]), int(match["minute"])
        second = min(int(match["second"]), 59)  # a leap second (":60") is the second before
        if not (1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60):
            return None
        return float(calendar.timegm((year, month, day, hour, minute, second)))
    return None


def parse_http_date(value: str | None) -> float | None:
    """An HTTP date to Unix seconds, or ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    moment = _strict(value)
    if moment is not None:
        return moment
    try:  # other near-forms some servers send; only with an explicit zone
        parsed = parsedate_to_datetime(value)
        return parsed.timestamp() if parsed.tzinfo is not None else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
