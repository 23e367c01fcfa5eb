"""Processing deadlines, counted from the legal arrival date in French working days or calendar days.

Working days skip Saturdays, Sundays, the French public holidays (the ``holidays``
package knows Easter Monday, Ascension and Whit Monday) and the local closures of
``registration.extra_closed_days``. The arrival day itself is day 0, as in the
CRPA: a letter received on Monday with 1 working day is due on Tuesday.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays

from ..config import Category, Config


@lru_cache(maxsize=64)
def _french_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.France(years=year))


class Calendar:
    def __init__(self, extra_closed_days: tuple[str, ...] = ()):
        self.extra = frozenset(date.fromisoformat(day) for day in extra_closed_days)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _french_holidays(day.year) and day not in self.extra

    def add_working_days(self, start: date, days: int) -> date:
        current, left = start, days
        while left > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                left -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(1 for n in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(days=n)))


def arrival_date(received_at: str) -> date:
    """The calendar date of an ISO arrival time, in the offset it was recorded with (the mail room's)."""
    moment = datetime.fromisoformat(received_at)
    return moment.date()


def processing_deadline(received_at: str, category: Category, urgent: bool, calendar: Calendar) -> date:
    days = category.urgent_deadline_days if urgent else category.deadline_days
    start = arrival_date(received_at)
    if category.deadline_kind == "calendar":
        return start + timedelta(days=days)
    return calendar.add_working_days(start, days)


def implicit_decision_date(received_at: str, category: Category) -> date:
    """The day a request is deemed accepted or rejected without an express decision (L231-1: calendar days)."""
    return arrival_date(received_at) + timedelta(days=category.implicit_decision_days)


def calendar_for(config: Config) -> Calendar:
    return Calendar(config.registration.extra_closed_days)
