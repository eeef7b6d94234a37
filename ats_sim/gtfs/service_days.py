"""Service days: which services run on a date, from ``calendar.txt`` and ``calendar_dates.txt``.

Headways are taken from one day. Unless a date is given, it is the day in the feed's calendar
on which the chosen routes make the most runs (Tuesday to Thursday preferred among equals), so
an import describes an ordinary busy weekday rather than a holiday.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import cast

from ats_sim.gtfs.feed import Feed, GtfsError
from ats_sim.gtfs.trips import Trip

__all__ = ["service_day"]


def _date(feed: Feed, file: str, row: int, field_: str, text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise GtfsError(
            f"{feed.where(file, row, field_)}: {text!r} is not a date like 20260310"
        ) from None


def service_day(
    feed: Feed, trips: Sequence[Trip], date: dt.date | None = None
) -> tuple[dt.date | None, set[str] | None]:
    """The date to take headways from and the services running on it.

    Without ``date``, the date (in the feed's calendar) on which the given trips make the most
    runs, preferring Tuesday to Thursday among equals. ``(None, None)`` when the feed has no
    calendar at all: then every trip counts.
    """
    if not (feed.has("calendar.txt") or feed.has("calendar_dates.txt")):
        if date is not None:
            raise GtfsError(
                f"{feed.label}: has neither calendar.txt nor calendar_dates.txt, so --date cannot be used"
            )
        return None, None
    weekly: list[tuple[str, tuple[bool, ...], dt.date, dt.date]] = []
    if feed.has("calendar.txt"):
        cal = feed.table("calendar.txt")
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        for i, r in cal.iterrows():
            weekly.append(
                (
                    r["service_id"],
                    tuple(r[d] == "1" for d in days),
                    _date(
                        feed, "calendar.txt", int(cast(int, i)) + 2, "start_date", r["start_date"]
                    ),
                    _date(feed, "calendar.txt", int(cast(int, i)) + 2, "end_date", r["end_date"]),
                )
            )
    added: dict[dt.date, set[str]] = {}
    removed: dict[dt.date, set[str]] = {}
    if feed.has("calendar_dates.txt"):
        cd = feed.table("calendar_dates.txt")
        for i, r in cd.iterrows():
            d = _date(feed, "calendar_dates.txt", int(cast(int, i)) + 2, "date", r["date"])
            (added if r["exception_type"] == "1" else removed).setdefault(d, set()).add(
                r["service_id"]
            )

    def active(d: dt.date) -> set[str]:
        on = {s for s, wk, a, b in weekly if a <= d <= b and wk[d.weekday()]}
        return (on | added.get(d, set())) - removed.get(d, set())

    if date is not None:
        return date, active(date)
    runs_by_service = Counter[str]()
    for t in trips:
        runs_by_service[t.service_id] += len(t.runs)
    bounds = [a for _, _, a, _ in weekly] + [b for _, _, _, b in weekly] + list(added)
    if not bounds:
        return None, None
    first, last = min(bounds), max(bounds)
    last = min(last, first + dt.timedelta(days=400))
    best: tuple[tuple[int, int, int], dt.date, set[str]] | None = None
    d = first
    while d <= last:
        on = active(d)
        key = (sum(runs_by_service[s] for s in on), int(d.weekday() in (1, 2, 3)), -d.toordinal())
        if best is None or key > best[0]:
            best = (key, d, on)
        d += dt.timedelta(days=1)
    assert best is not None
    return best[1], best[2]
