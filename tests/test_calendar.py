"""servicelevels.calendar: business-time arithmetic. Every expected value below was worked out by hand
(see the comments).

All datetimes are naive UTC. Handy offsets: Asia/Shanghai is UTC+8 all year; America/New_York is EST (UTC-5)
until 2026-03-08 02:00 local, EDT (UTC-4) until 2026-11-01 02:00 local, then EST again; Europe/Berlin is CET
(UTC+1) until 2026-03-29 02:00 local, CEST (UTC+2) until 2026-10-25 03:00 local, then CET again.

2026 weekdays used below: Thu Jan 1, Sun Jan 4; Sun Mar 8, Fri Mar 6, Mon Mar 9; Fri Mar 27, Sun Mar 29;
Fri Jul 3, Sat Jul 4; Sun Sep 20; Wed Sep 30, Thu Oct 1, Sat Oct 10; Fri Oct 23, Sun Oct 25; Fri Oct 30,
Sun Nov 1, Mon Nov 2, Mon Nov 30; Wed Dec 2, Mon Dec 7, Wed Dec 9, Fri Dec 11, Sat Dec 12, Mon Dec 14,
Wed Dec 23, Thu Dec 24, Fri Dec 25, Mon Dec 28.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from servicelevels.calendar import WEEKDAYS, Calendar, CalendarError

T = datetime.fromisoformat
WEEK = WEEKDAYS[:5]
EVERY_DAY = WEEKDAYS

CALENDARS = {
    # Monday-Friday 09:00-17:00 UTC (the default hours).
    "utc": Calendar(),
    # Monday-Friday 09:00-12:00 and 13:00-18:00 UTC: a lunch break, 8 h a day.
    "lunch": Calendar(hours={day: ("09:00-12:00", "13:00-18:00") for day in WEEK}),
    # Monday-Friday 09:00-17:00 UTC, closed on Christmas Eve and Christmas Day 2026 (Thursday, Friday).
    "xmas": Calendar(holidays=("2026-12-24", "2026-12-25")),
    # Saturday 2026-12-12 is an extra working day with Monday's hours.
    "saturday_work": Calendar(workdays=("2026-12-12",)),
    # A workday beats a holiday given for the same date.
    "work_beats_holiday": Calendar(holidays=("2026-12-12",), workdays=("2026-12-12",)),
    # Sunday 2026-12-13 works with Saturday's hours 10:00-14:00 (Saturday itself has them too).
    "sunday_like_saturday": Calendar(hours={"monday": ("09:00-17:00",), "saturday": ("10:00-14:00",)},
                                     workdays=("2026-12-13",), makeup_hours_from="saturday"),
    # Monday-Friday 09:00-17:00 in Shanghai (01:00-09:00 UTC) with China's public holidays and make-up days.
    "cn": Calendar(timezone="Asia/Shanghai", country="CN"),
    # As "cn", but Friday 2026-10-02 (National Day) is worked anyway.
    "cn_work_oct2": Calendar(timezone="Asia/Shanghai", country="CN", workdays=("2026-10-02",)),
    # Monday-Friday 09:00-17:00 New York time with US federal holidays.
    "us": Calendar(timezone="America/New_York", country="US"),
    "ny": Calendar(timezone="America/New_York"),
    # 09:00-17:00 New York time every day, weekends included, so the DST Sundays themselves are open.
    "ny_daily": Calendar(timezone="America/New_York", hours={day: ("09:00-17:00",) for day in EVERY_DAY}),
    "ny_24h": Calendar(timezone="America/New_York", hours={day: ("00:00-24:00",) for day in EVERY_DAY}),
    "ny_early": Calendar(timezone="America/New_York", hours={day: ("00:00-06:00",) for day in EVERY_DAY}),
    # Sunday 02:30-04:00: 02:30 does not exist on 2026-03-08. Sunday 01:30-03:00: 01:30 happens twice on 11-01.
    "ny_gap": Calendar(timezone="America/New_York", hours={"sunday": ("02:30-04:00",)}),
    "ny_fold": Calendar(timezone="America/New_York", hours={"sunday": ("01:30-03:00",)}),
    "ny_always": Calendar(timezone="America/New_York", always_open=True),
    "berlin": Calendar(timezone="Europe/Berlin"),
    "berlin_24h": Calendar(timezone="Europe/Berlin", hours={day: ("00:00-24:00",) for day in EVERY_DAY}),
    # Night shift: Monday-Friday 22:00-06:00 UTC; each night belongs to the evening it starts on.
    "night": Calendar(hours={day: ("22:00-06:00",) for day in WEEK}),
    # Night shift with Friday 2026-12-11 off: its night (Fri 22:00 - Sat 06:00) is closed too.
    "night_friday_off": Calendar(hours={day: ("22:00-06:00",) for day in WEEK}, holidays=("2026-12-11",)),
    # Overlapping intervals within a day and across midnight are counted once.
    "overlap": Calendar(hours={"monday": ("09:00-12:00", "11:00-13:00", "20:00-02:00"), "tuesday": ("01:00-03:00",)}),
    # 24x7 with settings that always_open must ignore.
    "always": Calendar(always_open=True, hours={}, holidays=("2026-12-25",)),
}


ADD_CASES = [
    # --- plain weekday hours, UTC ---
    ("inside, same day", "utc", "2026-12-09 10:00", 120, "2026-12-09 12:00"),  # Wed 10:00 + 2 h
    # Wed 10:00 + 7 h lands exactly on closing time: the earliest instant with 420 minutes is 17:00 itself.
    ("to closing time", "utc", "2026-12-09 10:00", 420, "2026-12-09 17:00"),
    ("before opening", "utc", "2026-12-09 07:00", 30, "2026-12-09 09:30"),  # closed until 09:00, then 30 min
    ("after closing", "utc", "2026-12-09 18:00", 30, "2026-12-10 09:30"),  # Wed evening -> Thu 09:00 + 30
    ("across the night", "utc", "2026-12-09 16:00", 120, "2026-12-10 10:00"),  # 60 Wed + 60 Thu
    ("friday evening", "utc", "2026-12-11 17:00", 30, "2026-12-14 09:30"),  # Fri 17:00 closed -> Mon 09:30
    ("friday afternoon", "utc", "2026-12-11 16:30", 60, "2026-12-14 09:30"),  # 30 Fri + 30 Mon
    ("from saturday", "utc", "2026-12-12 12:00", 480, "2026-12-14 17:00"),  # Mon 09:00 + a full 8 h day
    ("zero while open", "utc", "2026-12-09 10:00", 0, "2026-12-09 10:00"),
    ("zero while closed", "utc", "2026-12-12 12:00", 0, "2026-12-12 12:00"),  # Saturday: stays put
    ("seconds", "utc", "2026-12-09 10:00", 0.5, "2026-12-09 10:00:30"),
    # --- lunch break 12:00-13:00 ---
    ("over lunch", "lunch", "2026-12-09 11:30", 60, "2026-12-09 13:30"),  # 30 before noon + 30 after 13:00
    ("from lunch", "lunch", "2026-12-09 12:15", 30, "2026-12-09 13:30"),  # closed until 13:00
    ("to lunch", "lunch", "2026-12-09 11:00", 60, "2026-12-09 12:00"),  # ends exactly at noon: earliest is 12:00
    ("lunch, friday 17:30", "lunch", "2026-12-11 17:30", 60, "2026-12-14 09:30"),  # 30 Fri (to 18:00) + 30 Mon
    # --- explicit holidays: Thu 24 and Fri 25 December closed ---
    # Wed 16:00 + 2 h: 60 on Wed, Thu/Fri holidays, weekend, Mon 28th 09:00 + 60.
    ("explicit holiday", "xmas", "2026-12-23 16:00", 120, "2026-12-28 10:00"),
    # --- China, Asia/Shanghai (UTC+8): local 09:00-17:00 is 01:00-09:00 UTC ---
    # Wed Sep 30 16:00 local (08:00 UTC) + 2 h: 60 to 17:00 local; Oct 1-7 closed (1, 2, 3 National Day,
    # 4 Sunday, 5 observed, 6 and 7 days off in lieu); Thu Oct 8 09:00 local + 60 = 10:00 local = 02:00 UTC.
    ("CN national day", "cn", "2026-09-30 08:00", 120, "2026-10-08 02:00"),
    # Fri Oct 9 16:30 local (08:30 UTC) + 1 h: 30 on Friday, then Saturday Oct 10 is a make-up working day
    # with Monday's hours: 09:00 local + 30 = 09:30 local = 01:30 UTC.
    ("CN make-up saturday", "cn", "2026-10-09 08:30", 60, "2026-10-10 01:30"),
    # Wed 2025-12-31 16:00 local (08:00 UTC) + 2 h: 60 on Dec 31; Jan 1 holiday, Jan 2 day off, Jan 3 Saturday;
    # Sunday Jan 4 is a make-up working day: 09:00 local + 60 = 10:00 local = 02:00 UTC.
    ("CN make-up sunday", "cn", "2025-12-31 08:00", 120, "2026-01-04 02:00"),
    # Thu Dec 3 09:00 local (01:00 UTC) + 3,000 min = 6 days of 8 h (Thu 3, Fri 4, Mon 7 .. Thu 10) + 2 h:
    # Fri Dec 11 11:00 local = 03:00 UTC.
    ("CN longer than a week", "cn", "2026-12-03 01:00", 3000, "2026-12-11 03:00"),
    # Oct 2 is worked despite National Day: Thu Oct 1 closed, so from Wed Sep 30 17:00 local (09:00 UTC)
    # the next hour is Fri Oct 2 09:00-10:00 local = 01:00-02:00 UTC.
    ("workday beats country holiday", "cn_work_oct2", "2026-09-30 09:00", 60, "2026-10-02 02:00"),
    # --- US, New York (EDT, UTC-4, in July): 09:00-17:00 local is 13:00-21:00 UTC ---
    # Thu Jul 2 16:00 EDT (20:00 UTC) + 2 h: 60 on Thursday; Fri Jul 3 is Independence Day (observed), then
    # the weekend; Mon Jul 6 09:00 EDT + 60 = 10:00 EDT = 14:00 UTC.
    ("US observed holiday", "us", "2026-07-02 20:00", 120, "2026-07-06 14:00"),
    # --- explicit workdays ---
    # Fri Dec 11 16:00 + 2 h: 60 on Friday, Saturday Dec 12 works Monday's 09:00-17:00: 09:00 + 60 = 10:00.
    ("workday on saturday", "saturday_work", "2026-12-11 16:00", 120, "2026-12-12 10:00"),
    ("workday beats holiday", "work_beats_holiday", "2026-12-11 16:00", 120, "2026-12-12 10:00"),
    # Sun Dec 13 works Saturday's 10:00-14:00: from Sunday 00:00, 3 h in = 13:00.
    ("workday with saturday's hours", "sunday_like_saturday", "2026-12-13 00:00", 180, "2026-12-13 13:00"),
    # --- DST, business hours: the local clock result does not move ---
    # Fri Mar 6 16:00 EST (21:00 UTC) + 2 h: 60 Friday; the change is on Sunday; Mon Mar 9 09:00 EDT + 60 =
    # 10:00 EDT = 14:00 UTC (10:00 local, as on any Monday).
    ("NY spring, weekend change", "ny", "2026-03-06 21:00", 120, "2026-03-09 14:00"),
    # Fri Oct 30 16:00 EDT (20:00 UTC) + 2 h: 60 Friday, Mon Nov 2 09:00 EST + 60 = 10:00 EST = 15:00 UTC.
    ("NY fall, weekend change", "ny", "2026-10-30 20:00", 120, "2026-11-02 15:00"),
    # Sat Mar 7 16:00 EST (21:00 UTC) + 2 h with every day open 09-17: 60 Saturday, Sunday Mar 8 (already EDT)
    # 09:00 EDT + 60 = 10:00 EDT = 14:00 UTC.
    ("NY spring, change day open", "ny_daily", "2026-03-07 21:00", 120, "2026-03-08 14:00"),
    # Sat Oct 31 16:00 EDT (20:00 UTC) + 2 h: 60 Saturday, Sun Nov 1 (EST by 09:00) 10:00 EST = 15:00 UTC.
    ("NY fall, change day open", "ny_daily", "2026-10-31 20:00", 120, "2026-11-01 15:00"),
    # Fri Mar 27 16:00 CET (15:00 UTC) + 2 h: 60 Friday, Mon Mar 30 09:00 CEST + 60 = 10:00 CEST = 08:00 UTC.
    ("Berlin spring", "berlin", "2026-03-27 15:00", 120, "2026-03-30 08:00"),
    # Fri Oct 23 16:00 CEST (14:00 UTC) + 2 h: 60 Friday, Mon Oct 26 10:00 CET = 09:00 UTC.
    ("Berlin fall", "berlin", "2026-10-23 14:00", 120, "2026-10-26 09:00"),
    # --- 24-hour local calendars and 24x7 add real elapsed time ---
    # From local midnight of the 23-hour day (05:00 UTC), 24 business hours end at 05:00 UTC the next day,
    # which is 01:00 EDT on Mar 9 (not midnight: the day was an hour short).
    ("NY 24h spring", "ny_24h", "2026-03-08 05:00", 1440, "2026-03-09 05:00"),
    ("NY 24h fall", "ny_24h", "2026-11-01 04:00", 1500, "2026-11-02 05:00"),  # 25 h = midnight to midnight
    ("24x7 across DST", "ny_always", "2026-03-08 05:00", 1440, "2026-03-09 05:00"),
    ("24x7 ignores holidays", "always", "2026-12-24 12:00", 1440, "2026-12-25 12:00"),
    # --- overnight interval 22:00-06:00 ---
    ("night, before midnight", "night", "2026-12-09 23:00", 120, "2026-12-10 01:00"),  # 60 + 60 after midnight
    ("night, daytime start", "night", "2026-12-09 12:00", 60, "2026-12-09 23:00"),  # opens 22:00
    # Sat 05:00 is still Friday's night (to 06:00): 60; Sunday has no night, so Monday 00-06 is closed;
    # next open is Mon 22:00 + 60 = 23:00.
    ("night, saturday morning", "night", "2026-12-12 05:00", 120, "2026-12-14 23:00"),
    # --- long targets ---
    # Wed Dec 2 09:00 + 3,000 min = 50 h: Wed 2, Thu 3, Fri 4, Mon 7, Tue 8, Wed 9 (48 h) + 2 h on Thu 10.
    ("3000 minutes", "utc", "2026-12-02 09:00", 3000, "2026-12-10 11:00"),
    # Mon Nov 2 09:00 + 10,000 min: 20 full days (9,600; Nov 2-6, 9-13, 16-20, 23-27) + 400 min (6 h 40) on
    # Mon Nov 30: 15:40.
    ("10000 minutes", "utc", "2026-11-02 09:00", 10000, "2026-11-30 15:40"),
]


@pytest.mark.parametrize("name, calendar, start, minutes, expected", ADD_CASES, ids=[c[0] for c in ADD_CASES])
def test_add(name, calendar, start, minutes, expected):
    cal = CALENDARS[calendar]
    assert cal.add(T(start), minutes) == T(expected)
    # By definition the result is exactly `minutes` business minutes after the start.
    assert cal.between(T(start), T(expected)) == minutes


BETWEEN_CASES = [
    ("same day", "utc", "2026-12-09 10:00", "2026-12-09 12:00", 120),
    ("before opening", "utc", "2026-12-09 07:00", "2026-12-09 09:30", 30),
    ("overnight", "utc", "2026-12-09 18:00", "2026-12-10 09:30", 30),  # only Thu 09:00-09:30
    ("over the weekend", "utc", "2026-12-11 16:30", "2026-12-14 09:30", 60),  # 30 Fri + 30 Mon
    ("weekend only", "utc", "2026-12-11 17:00", "2026-12-14 09:00", 0),
    ("a week", "utc", "2026-12-07 09:00", "2026-12-14 09:00", 2400),  # 5 x 480
    ("whole days", "utc", "2026-12-07 00:00", "2026-12-12 00:00", 2400),
    ("thirty seconds", "utc", "2026-12-09 10:00", "2026-12-09 10:00:30", 0.5),
    ("empty", "utc", "2026-12-09 10:00", "2026-12-09 10:00", 0),
    ("backwards", "utc", "2026-12-09 12:00", "2026-12-09 10:00", 0),  # end before start: 0, not negative
    ("over lunch", "lunch", "2026-12-09 11:30", "2026-12-09 13:30", 60),
    ("lunch day", "lunch", "2026-12-09 08:00", "2026-12-09 19:00", 480),  # 3 h + 5 h
    ("explicit holiday", "xmas", "2026-12-23 09:00", "2026-12-28 09:00", 480),  # only Wed 23rd
    # Wed Sep 30 09:00 local (01:00 UTC) to Thu Oct 8 09:00 local: only Sep 30 is open (Oct 1-7 closed).
    ("CN national day", "cn", "2026-09-30 01:00", "2026-10-08 01:00", 480),
    # Sat Oct 10 is a make-up day: 09:00-17:00 local lies inside [Oct 10 00:00 UTC, Oct 11 00:00 UTC).
    ("CN make-up saturday", "cn", "2026-10-10 00:00", "2026-10-11 00:00", 480),
    # Sun Jan 4 09:00-17:00 local = Jan 4 01:00-09:00 UTC.
    ("CN make-up sunday", "cn", "2026-01-04 00:00", "2026-01-05 00:00", 480),
    # The ordinary Sunday after it, Jan 11, is closed.
    ("CN ordinary sunday", "cn", "2026-01-11 00:00", "2026-01-12 00:00", 0),
    ("CN 3000 minutes", "cn", "2026-12-03 01:00", "2026-12-11 03:00", 3000),
    ("CN workday on holiday", "cn_work_oct2", "2026-10-01 16:00", "2026-10-02 16:00", 480),  # Oct 2 only
    # Thu Jul 2 09:00 EDT (13:00 UTC) to Mon Jul 6 09:00 EDT: Thursday only; Friday Jul 3 observed holiday.
    ("US observed holiday", "us", "2026-07-02 13:00", "2026-07-06 13:00", 480),
    ("workday on saturday", "saturday_work", "2026-12-12 00:00", "2026-12-13 00:00", 480),
    ("workday beats holiday", "work_beats_holiday", "2026-12-12 00:00", "2026-12-13 00:00", 480),
    ("workday with saturday's hours", "sunday_like_saturday", "2026-12-13 00:00", "2026-12-14 00:00", 240),
    # Fri Mar 6 09:00 EST (14:00 UTC) to Mon Mar 9 09:00 EDT (13:00 UTC): Friday's 8 h, nothing for the hour
    # the clocks skipped.
    ("NY spring weekend", "ny", "2026-03-06 14:00", "2026-03-09 13:00", 480),
    # Fri Oct 30 09:00 EDT (13:00 UTC) to Mon Nov 2 09:00 EST (14:00 UTC): Friday's 8 h.
    ("NY fall weekend", "ny", "2026-10-30 13:00", "2026-11-02 14:00", 480),
    # 09:00-17:00 on the change days is still 8 h: Mar 8 13:00-21:00 UTC (EDT), Nov 1 14:00-22:00 UTC (EST).
    ("NY spring change day", "ny_daily", "2026-03-08 00:00", "2026-03-09 00:00", 480),
    ("NY fall change day", "ny_daily", "2026-11-01 00:00", "2026-11-02 00:00", 480),
    # Fri Mar 27 09:00 CET (08:00 UTC) to Mon Mar 30 09:00 CEST (07:00 UTC): Friday only.
    ("Berlin spring weekend", "berlin", "2026-03-27 08:00", "2026-03-30 07:00", 480),
    # Fri Oct 23 09:00 CEST (07:00 UTC) to Mon Oct 26 09:00 CET (08:00 UTC): Friday only.
    ("Berlin fall weekend", "berlin", "2026-10-23 07:00", "2026-10-26 08:00", 480),
    # Local midnight to local midnight, every hour open: 23 h on spring-forward day, 25 h on fall-back day.
    ("NY 23-hour day", "ny_24h", "2026-03-08 05:00", "2026-03-09 04:00", 1380),
    ("NY 25-hour day", "ny_24h", "2026-11-01 04:00", "2026-11-02 05:00", 1500),
    ("NY 71 hours around spring", "ny_24h", "2026-03-07 05:00", "2026-03-10 04:00", 4260),  # 24 + 23 + 24
    ("Berlin 23-hour day", "berlin_24h", "2026-03-28 23:00", "2026-03-29 22:00", 1380),
    ("Berlin 25-hour day", "berlin_24h", "2026-10-24 22:00", "2026-10-25 23:00", 1500),
    # 00:00-06:00 local on the change day: 00:00 EST (05:00 UTC) to 06:00 EDT (10:00 UTC) = 5 h; in the fall
    # 00:00 EDT (04:00 UTC) to 06:00 EST (11:00 UTC) = 7 h. The UTC day holds exactly that one interval.
    ("NY 00-06 spring is 5 h", "ny_early", "2026-03-08 00:00", "2026-03-09 00:00", 300),
    ("NY 00-06 fall is 7 h", "ny_early", "2026-11-01 00:00", "2026-11-02 00:00", 420),
    # 02:30 does not exist on Mar 8; fold=0 reads it with EST: 07:30 UTC (= 03:30 EDT). 04:00 EDT = 08:00 UTC.
    ("non-existent start", "ny_gap", "2026-03-08 00:00", "2026-03-09 00:00", 30),
    # 01:30 happens twice on Nov 1; fold=0 is the first, EDT: 05:30 UTC. 03:00 EST = 08:00 UTC: 150 min.
    ("ambiguous start", "ny_fold", "2026-11-01 00:00", "2026-11-02 00:00", 150),
    # 24x7 counts plain UTC time: from 00:00 EST to 00:00 EDT is 23 h here too; a UTC day is 24 h.
    ("24x7 local midnights", "ny_always", "2026-03-08 05:00", "2026-03-09 04:00", 1380),
    ("24x7 utc day", "ny_always", "2026-03-08 00:00", "2026-03-09 00:00", 1440),
    ("24x7 holiday is open", "always", "2026-12-25 00:00", "2026-12-26 00:00", 1440),
    ("24x7 backwards", "always", "2026-12-26 00:00", "2026-12-25 00:00", 0),
    # Night shift: Monday 00:00-06:00 belongs to Sunday (closed); Monday's own night is 22:00-24:00 that day.
    ("night, monday", "night", "2026-12-14 00:00", "2026-12-15 00:00", 120),
    # Fri 00:00-06:00 (Thursday's night) 360 + Fri 22:00 - Sat 06:00 480.
    ("night, friday", "night", "2026-12-11 00:00", "2026-12-12 12:00", 840),
    ("night, friday off", "night_friday_off", "2026-12-11 00:00", "2026-12-12 12:00", 360),
    # Monday 09:00-13:00 (two overlapping intervals, 4 h) + Mon 20:00 - Tue 03:00 (7 h, overlap counted once).
    ("overlapping intervals", "overlap", "2026-12-14 00:00", "2026-12-16 00:00", 660),
    ("3000 minutes", "utc", "2026-12-02 09:00", "2026-12-10 11:00", 3000),
]


@pytest.mark.parametrize("name, calendar, start, end, expected", BETWEEN_CASES, ids=[c[0] for c in BETWEEN_CASES])
def test_between(name, calendar, start, end, expected):
    assert CALENDARS[calendar].between(T(start), T(end)) == expected


SUBTRACT_CASES = [
    # Due Mon 10:00: back 60 on Monday, then Friday from 17:00 back 60 = 16:00.
    ("over the weekend", "utc", "2026-12-14 10:00", 120, "2026-12-11 16:00"),
    # The latest t: Mon 09:00-09:30 already holds 30 minutes, so t is Monday 09:00, not Friday 17:00.
    ("latest, not earliest", "utc", "2026-12-14 09:30", 30, "2026-12-14 09:00"),
    ("warn before due", "utc", "2026-12-14 09:15", 30, "2026-12-11 16:45"),  # 15 Mon + 15 Fri
    ("from saturday", "utc", "2026-12-12 12:00", 30, "2026-12-11 16:30"),
    ("zero", "utc", "2026-12-12 12:00", 0, "2026-12-12 12:00"),
    ("over lunch", "lunch", "2026-12-09 13:30", 60, "2026-12-09 11:30"),  # 30 after 13:00 + 30 before noon
    ("explicit holiday", "xmas", "2026-12-28 10:00", 120, "2026-12-23 16:00"),  # mirrors the add case
    ("CN national day", "cn", "2026-10-08 02:00", 120, "2026-09-30 08:00"),  # mirrors the add case
    ("CN make-up sunday", "cn", "2026-01-04 02:00", 120, "2025-12-31 08:00"),
    ("NY spring", "ny", "2026-03-09 14:00", 120, "2026-03-06 21:00"),  # Mon 10:00 EDT -> Fri 16:00 EST
    ("Berlin spring", "berlin", "2026-03-30 08:00", 120, "2026-03-27 15:00"),  # Mon 10:00 CEST -> Fri 16:00 CET
    ("NY 24h fall", "ny_24h", "2026-11-02 05:00", 1500, "2026-11-01 04:00"),
    ("24x7", "ny_always", "2026-03-09 05:00", 1440, "2026-03-08 05:00"),
    ("night", "night", "2026-12-14 23:00", 120, "2026-12-12 05:00"),  # 60 Mon night + 60 of Fri's night
    ("10000 minutes", "utc", "2026-11-30 15:40", 10000, "2026-11-02 09:00"),
]


@pytest.mark.parametrize("name, calendar, end, minutes, expected", SUBTRACT_CASES,
                         ids=[c[0] for c in SUBTRACT_CASES])
def test_subtract(name, calendar, end, minutes, expected):
    cal = CALENDARS[calendar]
    assert cal.subtract(T(end), minutes) == T(expected)
    assert cal.between(T(expected), T(end)) == minutes


IS_OPEN_CASES = [
    ("utc", "2026-12-09 09:00", True),  # opening instant is open
    ("utc", "2026-12-09 16:59:59", True),
    ("utc", "2026-12-09 17:00", False),  # closing instant is not
    ("utc", "2026-12-12 12:00", False),  # Saturday
    ("lunch", "2026-12-09 12:30", False),
    ("xmas", "2026-12-24 10:00", False),
    ("cn", "2026-10-01 02:00", False),  # National Day, 10:00 local
    ("cn", "2026-01-04 02:00", True),  # make-up Sunday, 10:00 local
    ("cn", "2026-12-03 00:59", False),  # 08:59 local
    ("cn", "2026-12-03 01:00", True),  # 09:00 local
    ("us", "2026-07-03 14:00", False),  # observed Independence Day, 10:00 EDT
    ("saturday_work", "2026-12-12 10:00", True),
    ("ny", "2026-03-09 13:00", True),  # Monday 09:00 EDT
    ("ny", "2026-03-09 12:59", False),  # 08:59 EDT (it would be 07:59 EST a week earlier)
    ("night", "2026-12-12 03:00", True),  # Friday's night
    ("night", "2026-12-14 03:00", False),  # Sunday has no night
    ("night_friday_off", "2026-12-12 03:00", False),
    ("always", "2026-12-25 03:00", True),
]


@pytest.mark.parametrize("calendar, at, expected", IS_OPEN_CASES)
def test_is_open(calendar, at, expected):
    assert CALENDARS[calendar].is_open(T(at)) is expected


def test_add_subtract_properties():
    """For random starts and targets: add lands exactly `m` business minutes later and is the earliest such
    instant; subtract is the latest instant exactly `m` business minutes before its end.

    Note the direction: subtract(add(s, m), m) is *not* before s. It is s itself when s is open (or m == 0),
    and otherwise the moment business time resumes after s (both give exactly m minutes; subtract picks the
    latest). Mirrored, add(subtract(e, m), m) is e, or the moment business time stopped before e."""
    rng = random.Random(20260308)
    names = ["utc", "lunch", "xmas", "cn", "us", "ny", "ny_daily", "ny_24h", "ny_early", "ny_gap", "ny_fold",
             "berlin", "berlin_24h", "night", "night_friday_off", "overlap", "saturday_work", "ny_always"]
    base = T("2026-01-01 00:00")
    tick = timedelta(microseconds=1)
    closed_starts = 0
    for _ in range(600):
        cal = CALENDARS[rng.choice(names)]
        start = base + timedelta(seconds=rng.randrange(365 * 86400))
        minutes = rng.choice([rng.randrange(0, 600), rng.randrange(0, 6000), round(rng.uniform(0, 2000), 3)])
        closed_starts += not cal.is_open(start)

        end = cal.add(start, minutes)
        assert end >= start
        assert cal.between(start, end) == minutes
        if minutes:
            assert cal.between(start, end - tick) < minutes  # earliest

        back = cal.subtract(end, minutes)
        assert start <= back <= end
        assert cal.between(back, end) == minutes
        assert cal.between(start, back) == 0  # only closed time is skipped
        if minutes:
            assert cal.between(back + tick, end) < minutes  # latest
        if cal.is_open(start) or not minutes:
            assert back == start

        before = cal.subtract(start, minutes)
        assert before <= start
        assert cal.between(before, start) == minutes
        again = cal.add(before, minutes)
        assert before <= again <= start
        assert cal.between(again, start) == 0
        if minutes and cal.is_open(start - tick):
            assert again == start
    assert 100 < closed_starts < 500  # both kinds of start were exercised


def test_between_splits_add_up():
    """between(a, c) == between(a, b) + between(b, c) for any a <= b <= c."""
    rng = random.Random(7)
    base = T("2026-01-01 00:00")
    for _ in range(300):
        cal = CALENDARS[rng.choice(list(CALENDARS))]
        a, b, c = sorted(base + timedelta(minutes=rng.randrange(400 * 1440)) for _ in range(3))
        assert cal.between(a, c) == cal.between(a, b) + cal.between(b, c)


def test_between_counts_the_open_intervals():
    """The index the arithmetic reads (blocks of open time) counts what the intervals themselves
    hold, over short and long ranges, across block ends, DST changes and overnight hours."""
    rng = random.Random(11)
    base = T("2025-12-01 00:00")
    hours = [cal for cal in CALENDARS.values() if not cal.always_open]  # 24x7 is plain arithmetic
    for _ in range(400):
        cal = rng.choice(hours)
        a = base + timedelta(seconds=rng.randrange(400 * 86400))
        b = a + timedelta(seconds=rng.choice([rng.randrange(3 * 86400), rng.randrange(90 * 86400)]))
        expected = sum((e - s) // timedelta(microseconds=1) for s, e in cal._open(a, b)) / 60_000_000
        assert cal.between(a, b) == expected


def test_a_century_of_business_time_and_the_ends_of_the_calendar():
    """The index reaches as far as the walk it replaced: a target of a hundred years of business
    time, and dates next to the first and last that datetime can hold."""
    cal = Calendar(timezone="America/New_York")
    far = cal.add(T("2026-01-01 00:00"), 12_548_246)
    assert far.year == 2126 and cal.between(T("2026-01-01 00:00"), far) == 12_548_246
    assert cal.subtract(far, 12_548_246) == T("2026-01-01 14:00")  # 09:00 New York, the first open minute
    late, early = datetime(9999, 12, 1), datetime(1, 1, 10)
    for a, b in ((late, late + timedelta(days=20)), (early, early + timedelta(days=15))):
        expected = sum((e - s) // timedelta(microseconds=1) for s, e in cal._open(a, b)) / 60_000_000
        assert cal.between(a, b) == expected > 0


def test_work_is_bounded_by_days_not_minutes():
    """A year's business time, or 10,000 business minutes forward and back, reads each calendar day
    a bounded number of times; half a year of holidays is skipped a day at a time. (Work counted,
    not timed: the suite runs on busy machines.)"""
    cal = Calendar(timezone="Europe/Berlin", country="DE", hours={day: ("09:00-12:00", "13:00-17:00") for day in WEEK})
    days = counting(cal)
    cal.between(T("2026-01-01 00:00"), T("2027-01-01 00:00"))
    # each day's hours worked out once (cached), the year's and those of the index's blocks at either end
    assert 365 <= len(days) <= 365 + 2 * 16 + 4 and max(days.values()) == 1
    fresh = Calendar(timezone="Europe/Berlin", country="DE",
                     hours={day: ("09:00-12:00", "13:00-17:00") for day in WEEK})
    days = counting(fresh)
    fresh.add(T("2026-01-01 00:00"), 10_000)
    fresh.subtract(T("2027-01-01 00:00"), 10_000)
    assert sum(days.values()) < 200  # 10,000 minutes are about 30 working days each way
    closed = tuple((T("2026-01-01 00:00") + timedelta(days=i)).date().isoformat() for i in range(180))
    quiet = Calendar(holidays=closed)
    days = counting(quiet)
    # Jan 1 + 180 days = Jun 30 (Tuesday), the first open day: 09:00 + 30.
    assert quiet.add(T("2026-01-01 00:00"), 30) == T("2026-06-30 09:30")
    assert sum(days.values()) < 400


def test_a_span_longer_than_the_block_cache_is_worked_out_once():
    """An archive's mail of 1900 asks for the business time of 127 years, longer than the cache
    of blocks holds: the second time reads no day's rules again, and the span is the sum of its
    parts."""
    cal = Calendar(timezone="Asia/Shanghai", hours={day: ("09:00-18:00",) for day in WEEK[:5]})
    start, middle, end = T("1900-01-01 00:00"), T("1960-06-15 12:00"), T("2026-12-03 00:00")
    days = counting(cal)
    whole = cal.between(start, end)
    assert len(days) > 46_000  # every day of the span, once
    days.clear()
    assert cal.between(start, end) == whole and not days
    assert whole == cal.between(start, middle) + cal.between(middle, end)


def counting(cal) -> dict:
    """Count how often each day's rules are worked out (the calendar's own cache still applies)."""
    seen: dict = {}
    rule = cal._rule

    def counted(day):
        seen[day] = seen.get(day, 0) + 1
        return rule(day)
    cal._rule = counted
    return seen


def test_from_config():
    configured = SimpleNamespace(
        timezone="Asia/Shanghai", always_open=False, monday=["09:00-12:00", "13:00-18:00"], tuesday=[],
        wednesday=[], thursday=[], friday=[], saturday=[], sunday=[], holidays=["2026-12-14"],
        workdays=["2026-12-13"], country="", subdivision="", makeup_hours_from="monday")
    cal = Calendar.from_config(configured)
    # Sunday Dec 13 is worked with Monday's hours, Monday Dec 14 is a holiday: 8 h in [Dec 12 16:00 UTC,
    # Dec 14 16:00 UTC), which is [Dec 13 00:00, Dec 15 00:00) local.
    assert cal.between(T("2026-12-12 16:00"), T("2026-12-14 16:00")) == 480
    # Sunday 11:30 local (03:30 UTC) + 60: 30 to noon, lunch, 13:00 + 30 = 13:30 local = 05:30 UTC.
    assert cal.add(T("2026-12-13 03:30"), 60) == T("2026-12-13 05:30")
    always = Calendar.from_config(SimpleNamespace(
        timezone="UTC", always_open=True, monday=(), tuesday=(), wednesday=(), thursday=(), friday=(),
        saturday=(), sunday=(), holidays=(), workdays=(), country="", subdivision="", makeup_hours_from="monday"))
    assert always.add(T("2026-12-12 12:00"), 90) == T("2026-12-12 13:30")


INVALID = [
    ({"hours": {"monday": ("9-17",)}}, 'hours.monday: "9-17" is not HH:MM-HH:MM'),
    ({"hours": {"monday": ("09:00-17:00", "25:00-26:00")}}, 'hours.monday: "25:00-26:00" has a time'),
    ({"hours": {"friday": ("09:00-24:30",)}}, 'hours.friday: "09:00-24:30" has a time'),
    ({"hours": {"friday": ("24:00-06:00",)}}, 'hours.friday: "24:00-06:00" has a time'),
    ({"hours": {"friday": ("09:60-10:00",)}}, 'hours.friday: "09:60-10:00" has a time'),
    ({"hours": {"mon": ("09:00-17:00",)}}, 'hours: "mon" is not a weekday'),
    ({"hours": {"monday": "09:00-17:00"}}, "hours.monday: expected a list"),
    ({"hours": {"monday": (900,)}}, "hours.monday: 900 is not HH:MM-HH:MM"),
    ({"hours": {}}, "hours: no weekday has open hours"),
    ({"hours": {"monday": ()}}, "hours: no weekday has open hours"),
    ({"timezone": "Mars/Base"}, 'timezone: unknown time zone "Mars/Base"'),
    ({"timezone": ""}, 'timezone: unknown time zone ""'),
    ({"timezone": "../etc/passwd"}, 'timezone: unknown time zone "../etc/passwd"'),
    ({"country": "XX"}, 'country: "XX" is not a country the holidays package knows'),
    ({"country": "US", "subdivision": "ZZ"}, 'subdivision: "ZZ" is not a subdivision of "US"'),
    ({"subdivision": "CA"}, 'subdivision: "CA" needs a country'),
    ({"holidays": ("2026-13-01",)}, 'holidays: "2026-13-01" is not a YYYY-MM-DD date'),
    ({"holidays": ("20261225",)}, 'holidays: "20261225" is not a YYYY-MM-DD date'),
    ({"workdays": ("tomorrow",)}, 'workdays: "tomorrow" is not a YYYY-MM-DD date'),
    ({"holidays": "2026-12-25"}, 'holidays: expected a list of "YYYY-MM-DD" dates'),
    ({"makeup_hours_from": "funday"}, 'makeup_hours_from: "funday" is not a weekday'),
    ({"workdays": ("2026-12-13",), "makeup_hours_from": "sunday"}, 'workdays: makeup_hours_from "sunday" has no'),
    # always_open ignores the other settings, but they still have to make sense.
    ({"always_open": True, "timezone": "Mars/Base"}, "timezone: unknown time zone"),
]


@pytest.mark.parametrize("kwargs, message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_settings(kwargs, message):
    with pytest.raises(CalendarError) as caught:
        Calendar(**kwargs)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_valid_edge_settings():
    # "24:00" as an end, a 24-hour overnight interval, case-insensitive names, a lower-case country code.
    assert Calendar(hours={"Monday": ("00:00-24:00",)}).between(T("2026-12-14 00:00"), T("2026-12-15 00:00")) == 1440
    # "09:00-09:00" ends not after it starts: it runs to 09:00 the next day, 24 h.
    assert Calendar(hours={"monday": ("09:00-09:00",)}).between(T("2026-12-14 00:00"), T("2026-12-16 00:00")) == 1440
    assert Calendar(country="us", makeup_hours_from="FRIDAY").is_open(T("2026-07-03 10:00")) is False


@pytest.mark.parametrize("call", [
    lambda cal: cal.add(T("2026-12-09 10:00"), -1),
    lambda cal: cal.subtract(T("2026-12-09 10:00"), float("nan")),
    lambda cal: cal.add(T("2026-12-09 10:00"), float("inf")),
    lambda cal: cal.between(T("2026-12-09 10:00").replace(tzinfo=UTC), T("2026-12-09 11:00")),
    lambda cal: cal.is_open(T("2026-12-09 10:00+00:00")),
])
def test_bad_arguments(call):
    with pytest.raises(ValueError):
        call(CALENDARS["utc"])
