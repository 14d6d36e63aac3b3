"""Business-calendar arithmetic for the SLA clocks: explicit times in, times out.

Pure: no clock reads, no database, no Postdesk imports. Every datetime in and out is *naive UTC* (the
database's representation); minutes are ints or floats and are handled internally as whole microseconds,
so ``between(start, add(start, m)) == m`` holds exactly for any ``m`` with microsecond resolution.

How it works. A calendar is a union of open intervals. For each local date we look up that date's rule
(explicit workday > explicit holiday > country holiday > country make-up working day > the weekday's
hours), build its intervals as local wall times, and convert each end point to UTC with zoneinfo, so DST
is exact: a 09:00-17:00 day is 8 h on a change day, while 00:00-06:00 on a spring-forward day is 5 h
and on a fall-back day 7 h. An interval belongs to the date it starts on and may run past midnight, so a
date's intervals lie within [that date 00:00, two dates later 00:00) local. To count a UTC range we
collect the intervals of every date that can touch it (with a margin of a day or two for DST and
overnight intervals), sort, merge and clip: O(days) work, never per-minute.

The arithmetic reads an index built that way: UTC time cut into blocks of 16 days from a fixed epoch,
each block's open intervals (clipped to it) with the open time before each. ``between`` is then the
open time before its end less that before its start, a bisection in each end's block plus the whole
blocks between; ``add``/``subtract`` bisect for the instant at which the open time reaches the target,
a block at a time. A ticket's clocks ask the same few weeks again and again: each block is built once.

Local times that do not exist (the hour skipped at spring-forward) are converted the way zoneinfo does
with ``fold=0``: with the offset in force *before* the change, which lands them one gap later (02:30 on
2026-03-08 in America/New_York becomes 07:30 UTC, i.e. 03:30 EDT). An interval that collapses to nothing
or less that way is dropped. Ambiguous local times (the repeated hour at fall-back) also use ``fold=0``:
the first occurrence.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_DEFAULT_HOURS = {day: ("09:00-17:00",) for day in WEEKDAYS[:5]}
_INTERVAL = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_US = timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000
_DAY = timedelta(days=1)
_GIVE_UP_DAYS = 100 * 366  # a calendar validated to have weekly hours is open long before this
_DAY_CACHE_SIZE = 20_000
_EPOCH = datetime(2000, 1, 1)  # where the index's blocks are counted from (any instant would do)
_BLOCK = timedelta(days=16)  # one block of the index: two working weeks and a weekend
_GIVE_UP_BLOCKS = _GIVE_UP_DAYS // _BLOCK.days + 2  # at least _GIVE_UP_DAYS past the instant asked about
# The instants the index covers: its days' intervals are worked out from two days either side,
# which datetime cannot represent at its very ends.
_FIRST, _LAST = datetime.min + 3 * _DAY, datetime.max - 3 * _DAY
_BLOCK_CACHE_SIZE = 2_000
_TOTAL_CACHE_SIZE = 20_000  # blocks' totals alone (an int each): 876 years of them


class CalendarError(ValueError):
    """A calendar setting is wrong; the message names the setting and what is wrong with it."""


def _q(value: object) -> str:
    """A setting's value for an error message: strings in double quotes, anything else as repr."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _parse_interval(text: object, where: str) -> tuple[int, int]:
    """"HH:MM-HH:MM" -> (start, end) in minutes after the day's midnight; end > start, up to 2 days."""
    match = _INTERVAL.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(f"{where}: {_q(text)} is not HH:MM-HH:MM")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise CalendarError(f'{where}: {_q(text)} has a time that is not 00:00..23:59 (or 24:00 as an end)')
    start, end = sh * 60 + sm, eh * 60 + em
    if end <= start:  # runs past midnight; belongs to the day it starts on
        end += 24 * 60
    return start, end


def _parse_date(text: object, where: str) -> date:
    try:
        if not isinstance(text, str) or not _DATE.fullmatch(text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CalendarError(f"{where}: {_q(text)} is not a YYYY-MM-DD date") from None


def _country_holidays(country: str, subdivision: str, years):
    """The holidays package's calendar of a country, imported only when a calendar names one:
    importing it costs every command about 50 ms."""
    import holidays

    return holidays.country_holidays(country, subdiv=subdivision or None, years=years)


def _parse_dates(texts: object, where: str) -> frozenset[date]:
    if isinstance(texts, str) or not isinstance(texts, list | tuple | set | frozenset):
        raise CalendarError(f'{where}: expected a list of "YYYY-MM-DD" dates, got {texts!r}')
    return frozenset(_parse_date(text, where) for text in texts)


def _weekday_name(text: object, where: str) -> int:
    name = text.strip().lower() if isinstance(text, str) else text
    if name not in WEEKDAYS:
        raise CalendarError(f"{where}: {_q(text)} is not a weekday (monday..sunday)")
    return WEEKDAYS.index(name)


def _to_us(minutes: float, what: str = "minutes") -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise TypeError(f"{what} must be a number, not {type(minutes).__name__}")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {minutes!r}")
    return round(minutes * _US_PER_MINUTE)


def _check_naive(*moments: datetime) -> None:
    for moment in moments:
        if not isinstance(moment, datetime):
            raise TypeError(f"expected a naive UTC datetime, got {type(moment).__name__}")
        if moment.tzinfo is not None:
            raise ValueError(f"expected a naive UTC datetime, got one with tzinfo {moment.tzinfo}")


def _index(at: datetime) -> int:
    """The block of the index that holds the instant `at`."""
    return (at - _EPOCH) // _BLOCK


def _block_start(index: int) -> datetime:
    """Where block `index` begins, held within the instants the index covers."""
    return _EPOCH + min(max(index * _BLOCK, _FIRST - _EPOCH), _LAST - _EPOCH)


class _Block:
    """One block of the index: its open intervals (sorted, disjoint, clipped to the block) as their
    starts and ends, and `cumulative[i]`, the open microseconds before interval i (the last is
    the block's total)."""

    __slots__ = ("starts", "ends", "cumulative", "total")

    def __init__(self, intervals: list[tuple[datetime, datetime]]):
        self.starts = [s for s, _ in intervals]
        self.ends = [e for _, e in intervals]
        self.cumulative = [0]
        for s, e in intervals:
            self.cumulative.append(self.cumulative[-1] + (e - s) // _US)
        self.total = self.cumulative[-1]

    def before(self, at: datetime) -> int:
        """Open microseconds of the block before `at` (an instant in or after the block)."""
        i = bisect_right(self.starts, at) - 1
        if i < 0:
            return 0
        return self.cumulative[i] + (min(at, self.ends[i]) - self.starts[i]) // _US


class Calendar:
    """Business hours in a time zone, with holidays and extra working days; see the module docstring."""

    def __init__(self, *, timezone: str = "UTC", hours: dict[str, tuple[str, ...]] | None = None,
                 holidays: tuple[str, ...] = (), workdays: tuple[str, ...] = (), country: str = "",
                 subdivision: str = "", always_open: bool = False, makeup_hours_from: str = "monday"):
        """hours: weekday name -> intervals like ("09:00-12:00", "13:30-18:00"); a missing weekday is closed
        (``hours=None`` means Monday-Friday 09:00-17:00, the configuration's default). "24:00" is allowed as
        an end. An interval whose end is not after its start runs past midnight ("22:00-06:00": from 22:00
        that day to 06:00 the next; "09:00-09:00" is 24 hours) and belongs to the day it starts on.
        holidays: extra closed dates "YYYY-MM-DD". workdays: extra open dates "YYYY-MM-DD", open with the
        hours of `makeup_hours_from`; an explicit workday beats a holiday of either kind.
        country/subdivision: public holidays from the `holidays` package are closed, and its
        weekend_workdays are open with the hours of `makeup_hours_from`. Years are loaded lazily and cached.
        always_open: 24x7, plain UTC arithmetic; everything else is ignored (but still validated)."""
        self.always_open = bool(always_open)
        if not isinstance(timezone, str):
            raise CalendarError(f"timezone: {_q(timezone)} is not a time zone name")
        try:
            self._tz = ZoneInfo(timezone.strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise CalendarError(f'timezone: unknown time zone "{timezone}"') from None
        self.timezone = timezone.strip()
        self._utc = self.timezone in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Zulu", "Zulu", "Universal")

        given = _DEFAULT_HOURS if hours is None else hours
        if not isinstance(given, dict):
            raise CalendarError(f"hours: expected a mapping of weekday names to intervals, got {type(given).__name__}")
        weekly: list[tuple[tuple[int, int], ...]] = [() for _ in WEEKDAYS]
        for name, intervals in given.items():
            day = _weekday_name(name, "hours")
            where = f"hours.{WEEKDAYS[day]}"
            if isinstance(intervals, str) or not isinstance(intervals, list | tuple):
                raise CalendarError(f'{where}: expected a list of "HH:MM-HH:MM" strings, got {intervals!r}')
            weekly[day] = tuple(sorted(_parse_interval(text, where) for text in intervals))
        self._weekly = tuple(weekly)
        self._makeup_day = _weekday_name(makeup_hours_from, "makeup_hours_from")
        self.makeup_hours_from = WEEKDAYS[self._makeup_day]
        self._makeup = self._weekly[self._makeup_day]
        self._holidays = _parse_dates(holidays, "holidays")
        self._workdays = _parse_dates(workdays, "workdays")

        self.country = (country or "").strip().upper()
        self.subdivision = (subdivision or "").strip()
        if self.subdivision and not self.country:
            raise CalendarError(f'subdivision: "{self.subdivision}" needs a country')
        if self.country:
            try:
                _country_holidays(self.country, self.subdivision, ())
            except NotImplementedError as exc:
                if self.subdivision and "subdiv" in str(exc).lower():
                    raise CalendarError(f'subdivision: "{self.subdivision}" is not a subdivision of '
                                        f'"{self.country}" the holidays package knows') from None
                raise CalendarError(f'country: "{country}" is not a country the holidays package knows') from None
        self._raw_years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        self._country_years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        self._day_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._blocks: dict[int, _Block] = {}
        self._totals: dict[int, int] = {}

        if not self.always_open:
            if not any(self._weekly):
                raise CalendarError("hours: no weekday has open hours (use always_open for 24x7)")
            if self._workdays and not self._makeup:
                raise CalendarError(f'workdays: makeup_hours_from "{self.makeup_hours_from}" has no hours, so the '
                                    f"extra workdays would stay closed")

    @classmethod
    def from_config(cls, configured) -> Calendar:
        """From any object with attributes timezone, always_open, monday..sunday (tuples of interval strings),
        holidays, workdays, country, subdivision, makeup_hours_from."""
        return cls(timezone=configured.timezone, always_open=configured.always_open,
                   hours={day: getattr(configured, day) for day in WEEKDAYS},
                   holidays=configured.holidays, workdays=configured.workdays,
                   country=configured.country, subdivision=configured.subdivision,
                   makeup_hours_from=configured.makeup_hours_from)

    def __repr__(self) -> str:
        if self.always_open:
            return "Calendar(always_open=True)"
        return f"Calendar(timezone={self.timezone!r}, country={self.country!r})"

    # -- queries -------------------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Whether the instant `at` (naive UTC) is inside business hours."""
        _check_naive(at)
        if self.always_open:
            return True
        return bool(self._open(at, at + _US))

    def between(self, start: datetime, end: datetime) -> float:
        """Business minutes in [start, end); 0 when end <= start."""
        _check_naive(start, end)
        if end <= start:
            return 0.0
        if self.always_open:
            return ((end - start) // _US) / _US_PER_MINUTE
        first, last = _index(start), _index(end)
        open_us = sum(self._total(index) for index in range(first, last))
        return (open_us + self._block(last).before(end) - self._block(first).before(start)) / _US_PER_MINUTE

    def add(self, start: datetime, minutes: float) -> datetime:
        """The earliest instant t >= start with between(start, t) == minutes (so add(start, 0) == start,
        even when closed; add(Friday 17:00 closed, 30) == Monday 09:30 in local business hours)."""
        _check_naive(start)
        remaining = _to_us(minutes)
        if remaining == 0:
            return start
        if self.always_open:
            return start + timedelta(microseconds=remaining)
        first = _index(start)
        goal = self._block(first).before(start) + remaining  # open time from the block's start
        for index in range(first, first + _GIVE_UP_BLOCKS):
            block = self._block(index)
            if goal <= block.total:  # in the first interval whose end reaches the goal
                i = bisect_left(block.cumulative, goal, 1) - 1
                return block.starts[i] + timedelta(microseconds=goal - block.cumulative[i])
            goal -= block.total
        raise CalendarError(f"no open business time within {_GIVE_UP_DAYS} days after {start}")

    def subtract(self, end: datetime, minutes: float) -> datetime:
        """The latest instant t <= end with between(t, end) == minutes (used for "warn 30 business minutes
        before due"). subtract(end, 0) == end."""
        _check_naive(end)
        remaining = _to_us(minutes)
        if remaining == 0:
            return end
        if self.always_open:
            return end - timedelta(microseconds=remaining)
        last = _index(end)
        goal = self._block(last).before(end) - remaining  # open time from the block's start
        for index in range(last, last - _GIVE_UP_BLOCKS, -1):
            block = self._block(index)
            if goal >= 0:  # in the last interval that starts at or before the goal
                i = bisect_right(block.cumulative, goal, 0, len(block.starts)) - 1
                return block.starts[i] + timedelta(microseconds=goal - block.cumulative[i])
            goal += self._block(index - 1).total
        raise CalendarError(f"no open business time within {_GIVE_UP_DAYS} days before {end}")

    # -- intervals -----------------------------------------------------------------------------------

    def _block(self, index: int) -> _Block:
        """Block `index` of the index (see the module docstring), built once."""
        block = self._blocks.get(index)
        if block is None:
            lo, hi = _block_start(index), _block_start(index + 1)
            block = _Block(self._open(lo, hi) if lo < hi else [])
            if len(self._blocks) >= _BLOCK_CACHE_SIZE:
                self._blocks.clear()
            self._blocks[index] = block
        return block

    def _total(self, index: int) -> int:
        """Open microseconds of block `index`, remembered apart from the blocks: a span longer
        than the block cache (an archive's mail of the 1990s) then costs one addition per block
        on every call, not a rebuild of every block."""
        total = self._totals.get(index)
        if total is None:
            total = self._block(index).total
            if len(self._totals) >= _TOTAL_CACHE_SIZE:
                self._totals.clear()
            self._totals[index] = total
        return total

    def _open(self, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
        """The open time within [lo, hi) as sorted, disjoint, non-empty UTC intervals."""
        # A date's intervals lie within [date 00:00, date + 2 days 00:00) local time, so the dates that can
        # touch [lo, hi) run from lo's local date - 1 to hi's local date; one more each side covers the
        # non-monotonic UTC mapping of skipped local times.
        first, last = self._local_date(lo) - 2 * _DAY, self._local_date(hi) + _DAY
        raw: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            raw.extend(self._day_intervals(day))
            day += _DAY
        raw.sort()
        merged: list[tuple[datetime, datetime]] = []
        for s, e in raw:
            s, e = max(s, lo), min(e, hi)
            if e <= s:
                continue
            if merged and s <= merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        return merged

    def _local_date(self, at: datetime) -> date:
        if self._utc:
            return at.date()
        return at.replace(tzinfo=UTC).astimezone(self._tz).date()

    def _to_utc(self, wall: datetime) -> datetime:
        """Local wall time -> naive UTC, fold=0 (skipped times use the offset before the change)."""
        if self._utc:
            return wall
        return wall - self._tz.utcoffset(wall)

    def _day_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        midnight = datetime(day.year, day.month, day.day)
        out = []
        for start, end in self._rule(day):
            s = self._to_utc(midnight + timedelta(minutes=start))
            e = self._to_utc(midnight + timedelta(minutes=end))
            if e > s:  # an interval inside a skipped hour can come out empty or reversed: nothing is open
                out.append((s, e))
        result = tuple(out)
        if len(self._day_cache) >= _DAY_CACHE_SIZE:
            self._day_cache.clear()
        self._day_cache[day] = result
        return result

    def _rule(self, day: date) -> tuple[tuple[int, int], ...]:
        """The day's intervals in minutes after its local midnight."""
        if day in self._workdays:
            return self._makeup
        if day in self._holidays:
            return ()
        if self.country:
            closed, makeup = self._country_year(day.year)
            if day in closed:
                return ()
            if day in makeup:
                return self._makeup
        return self._weekly[day.weekday()]

    def _country_year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """The country's closed dates and make-up working days in `year`, from the holidays package.

        The package may file a date under a neighbouring year (an observed New Year's Day on 31 December),
        so the year is read from the loads of the year before, itself and the year after."""
        found = self._country_years.get(year)
        if found is None:
            closed: set[date] = set()
            makeup: set[date] = set()
            for near in (year - 1, year, year + 1):
                near_closed, near_makeup = self._raw_year(near)
                closed.update(d for d in near_closed if d.year == year)
                makeup.update(d for d in near_makeup if d.year == year)
            found = self._country_years[year] = (frozenset(closed), frozenset(makeup))
        return found

    def _raw_year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        found = self._raw_years.get(year)
        if found is None:
            if 1 <= year <= 9999:
                loaded = _country_holidays(self.country, self.subdivision, year)
                found = (frozenset(loaded.keys()), frozenset(getattr(loaded, "weekend_workdays", ()) or ()))
            else:
                found = (frozenset(), frozenset())
            self._raw_years[year] = found
        return found
