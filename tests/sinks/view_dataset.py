"""A small hand-built dataset for the shared views, with every expected answer worked out by hand.

Run ``r1`` on line ``L1``: trains T1 and T2 around 08:00 UTC on 2024-06-01, station events at
S1 "Alpha" and S2 "Beta", and four alert events. Run ``r2`` holds two telemetry rows of one
train at the same time (a tie), so that every view must keep runs apart and break ties the
same way. The rows are deliberately not in time order.

The same ``batches()`` and ``EXPECTED`` serve the DuckDB views here and the Snowflake views
(on fakesnow) in the Snowflake tests: both warehouses must give these answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sink_contract import make_batch

from ats_sim.records import Batch

__all__ = ["EXPECTED", "batches", "ts"]


def ts(hhmmss: str) -> dt.datetime:
    """A time on 2024-06-01, UTC."""
    h, m, *s = (int(x) for x in hhmmss.split(":"))
    return dt.datetime(2024, 6, 1, h, m, s[0] if s else 0, tzinfo=dt.UTC)


def _iso(hhmmss: str) -> str:
    return ts(hhmmss).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def batches() -> list[Batch]:
    """Telemetry, station events and alerts of the dataset (four batches)."""
    tel = [
        # train, time, passengers, load, speed, power, energy, regen, overcrowded, high power
        ("T1", "08:05", 500, 0.5, 50.0, -200.0, 2.5, 2.0, True, False),
        ("T1", "07:50", 100, 0.1, 10.0, 100.0, 1.0, 0.5, False, False),
        ("T2", "07:58", 200, 0.2, 20.0, 200.0, 4.0, 0.0, False, False),
        ("T1", "07:55", 300, 0.3, 30.0, 300.0, 3.0, 1.0, False, True),
        ("T2", "08:10", 1000, 1.0, 0.0, 0.0, 6.0, 0.5, True, True),
    ]
    telemetry = make_batch(
        "telemetry",
        [
            {
                "record_id": f"r1:tel:{t}:{hm}",
                "train_id": t,
                "timestamp": _iso(hm),
                "passenger_count": p,
                "load_factor": lf,
                "speed_kmh": v,
                "power_draw_kw": pw,
                "energy_kwh": e,
                "regen_energy_kwh": rg,
                "is_overcrowded": oc,
                "is_high_power_draw": hp,
            }
            for t, hm, p, lf, v, pw, e, rg, oc, hp in tel
        ],
        run_id="r1",
        line_id="L1",
        status="running",
    )
    other_run = make_batch(
        "telemetry",
        [
            {
                "record_id": "r2:tel:T1:b",
                "train_id": "T1",
                "timestamp": _iso("07:52"),
                "passenger_count": 9,
                "energy_kwh": 10.0,
                "regen_energy_kwh": 1.0,
            },
            {
                "record_id": "r2:tel:T1:a",
                "train_id": "T1",
                "timestamp": _iso("07:52"),
                "passenger_count": 7,
                "energy_kwh": 10.0,
                "regen_energy_kwh": 1.0,
            },
        ],
        run_id="r2",
        line_id="L1",
    )
    ev = [
        # train, station, event, time, alighted, boarded, left behind, waiting, headway
        ("T1", "S1", "arrival", "07:59:00", 20, 0, 0, 15, None),
        ("T2", "S1", "departure", "08:03:30", 0, 40, 12, 52, 240.0),
        ("T1", "S1", "departure", "07:59:30", 0, 30, 0, 10, None),
        ("T2", "S1", "arrival", "08:03:00", 5, 0, 0, 40, None),
        ("T3", "S1", "departure", "08:05:00", 0, 10, 0, 20, 90.0),
        ("T1", "S2", "arrival", "08:20:00", 7, 0, 0, 3, None),
    ]
    events = make_batch(
        "station_event",
        [
            {
                "record_id": f"r1:ev:{t}:{st}:{e}",
                "train_id": t,
                "station_id": st,
                "station_name": {"S1": "Alpha", "S2": "Beta"}[st],
                "event": e,
                "timestamp": _iso(hm),
                "alighted": a,
                "boarded": b,
                "left_behind": lb,
                "waiting": w,
                "headway_s": hw,
            }
            for t, st, e, hm, a, b, lb, w, hw in ev
        ],
        run_id="r1",
        line_id="L1",
        direction=0,
        scheduled_headway_s=300.0,
    )
    alerts = make_batch(
        "alert",
        [
            {
                "record_id": "r1:al:A1:c",
                "alert_id": "A1",
                "state": "cleared",
                "timestamp": _iso("08:05"),
                "alert_type": "overcrowding",
                "severity": "warning",
                "train_id": "T1",
                "value": 0.9,
                "threshold": 1.0,
                "message": "T1 no longer overcrowded",
            },
            {
                "record_id": "r1:al:A1:r",
                "alert_id": "A1",
                "state": "raised",
                "timestamp": _iso("07:55"),
                "alert_type": "overcrowding",
                "severity": "warning",
                "train_id": "T1",
                "value": 1.1,
                "threshold": 1.0,
                "message": "T1 overcrowded",
            },
            {
                "record_id": "r1:al:A2:r",
                "alert_id": "A2",
                "state": "raised",
                "timestamp": _iso("08:10"),
                "alert_type": "high_power_draw",
                "severity": "critical",
                "train_id": "T2",
                "value": 4200.0,
                "threshold": 4000.0,
                "message": "T2 high power",
            },
            {
                "record_id": "r1:al:A3:c",
                "alert_id": "A3",
                "state": "cleared",
                "timestamp": _iso("08:15"),
                "alert_type": "bunching",
                "severity": "info",
                "station_id": "S1",
                "value": 0.6,
                "threshold": 0.5,
                "message": "cleared without a raise in this data",
            },
        ],
        run_id="r1",
        line_id="L1",
    )
    return [telemetry, other_run, events, alerts]


#: view -> (ORDER BY clause, expected rows as dicts of the listed columns). Worked by hand:
EXPECTED: dict[str, tuple[str, list[dict[str, Any]]]] = {
    # Latest row per (run, train): T1 at 08:05, T2 at 08:10; r2's tie goes to the larger record id.
    "ATS_LATEST_STATUS": (
        "RUN_ID, TRAIN_ID",
        [
            {
                "RUN_ID": "r1",
                "TRAIN_ID": "T1",
                "TIMESTAMP": ts("08:05"),
                "PASSENGER_COUNT": 500,
                "ENERGY_KWH": 2.5,
            },
            {
                "RUN_ID": "r1",
                "TRAIN_ID": "T2",
                "TIMESTAMP": ts("08:10"),
                "PASSENGER_COUNT": 1000,
                "ENERGY_KWH": 6.0,
            },
            {
                "RUN_ID": "r2",
                "TRAIN_ID": "T1",
                "TIMESTAMP": ts("07:52"),
                "PASSENGER_COUNT": 9,
                "ENERGY_KWH": 10.0,
            },
        ],
    ),
    # A1 raised 07:55 and cleared 08:05; A2 still active; A3 has no raise, so no row.
    "ATS_ALERTS": (
        "ALERT_ID",
        [
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "ALERT_ID": "A1",
                "ALERT_TYPE": "overcrowding",
                "SEVERITY": "warning",
                "TRAIN_ID": "T1",
                "STATION_ID": None,
                "RAISED_AT": ts("07:55"),
                "CLEARED_AT": ts("08:05"),
                "IS_ACTIVE": False,
                "VALUE": 1.1,
                "THRESHOLD": 1.0,
                "MESSAGE": "T1 overcrowded",
            },
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "ALERT_ID": "A2",
                "ALERT_TYPE": "high_power_draw",
                "SEVERITY": "critical",
                "TRAIN_ID": "T2",
                "STATION_ID": None,
                "RAISED_AT": ts("08:10"),
                "CLEARED_AT": None,
                "IS_ACTIVE": True,
                "VALUE": 4200.0,
                "THRESHOLD": 4000.0,
                "MESSAGE": "T2 high power",
            },
        ],
    ),
    # 07h: T1 07:50, T1 07:55, T2 07:58 -> passengers 100, 300, 200; power 100, 300, 200; one high-power row.
    # 08h: T1 08:05, T2 08:10 -> passengers 500, 1000; power -200, 0; both overcrowded, one high power.
    "ATS_HOURLY_STATS": (
        "RUN_ID, HOUR",
        [
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "HOUR": ts("07:00"),
                "RECORDS": 3,
                "TRAINS": 2,
                "AVG_PASSENGERS": 200.0,
                "MAX_PASSENGERS": 300,
                "AVG_LOAD_FACTOR": 0.2,
                "AVG_SPEED_KMH": 20.0,
                "AVG_POWER_KW": 200.0,
                "MAX_POWER_KW": 300.0,
                "OVERCROWDED_SHARE": 0.0,
                "HIGH_POWER_SHARE": 1 / 3,
            },
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "HOUR": ts("08:00"),
                "RECORDS": 2,
                "TRAINS": 2,
                "AVG_PASSENGERS": 750.0,
                "MAX_PASSENGERS": 1000,
                "AVG_LOAD_FACTOR": 0.75,
                "AVG_SPEED_KMH": 25.0,
                "AVG_POWER_KW": -100.0,
                "MAX_POWER_KW": 0.0,
                "OVERCROWDED_SHARE": 1.0,
                "HIGH_POWER_SHARE": 0.5,
            },
            {
                "RUN_ID": "r2",
                "LINE_ID": "L1",
                "HOUR": ts("07:00"),
                "RECORDS": 2,
                "TRAINS": 1,
                "AVG_PASSENGERS": 8.0,
                "MAX_PASSENGERS": 9,
            },
        ],
    ),
    # S1 07h: departure T1 (boarded 30, waiting 10), arrival T1 (alighted 20).
    # S1 08h: departures T2 (40 boarded, 12 left, 52 waiting) and T3 (10, 0, 20); arrival T2 (5 alighted).
    # S2 08h: an arrival only (7 alighted): no departures, waiting unknown.
    "ATS_STATION_CROWDING": (
        "STATION_ID, HOUR",
        [
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "STATION_ID": "S1",
                "STATION_NAME": "Alpha",
                "HOUR": ts("07:00"),
                "DEPARTURES": 1,
                "BOARDED": 30,
                "ALIGHTED": 20,
                "LEFT_BEHIND": 0,
                "AVG_WAITING": 10.0,
                "MAX_WAITING": 10,
            },
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "STATION_ID": "S1",
                "STATION_NAME": "Alpha",
                "HOUR": ts("08:00"),
                "DEPARTURES": 2,
                "BOARDED": 50,
                "ALIGHTED": 5,
                "LEFT_BEHIND": 12,
                "AVG_WAITING": 36.0,
                "MAX_WAITING": 52,
            },
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "STATION_ID": "S2",
                "STATION_NAME": "Beta",
                "HOUR": ts("08:00"),
                "DEPARTURES": 0,
                "BOARDED": 0,
                "ALIGHTED": 7,
                "LEFT_BEHIND": 0,
                "AVG_WAITING": None,
                "MAX_WAITING": None,
            },
        ],
    ),
    # Energy steps: T1 +1.0 (07:50, from 0), +2.0 (07:55), -0.5 (08:05); T2 +4.0 (07:58), +2.0 (08:10).
    # Regen steps:  T1 +0.5, +0.5, +1.0;                                  T2 +0.0, +0.5.
    # 07h: energy 7.0, regen 1.0; 08h: energy 1.5, regen 1.5. r2: 10.0 then +0.0 (same value), regen 1.0.
    "ATS_LINE_ENERGY": (
        "RUN_ID, HOUR",
        [
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "HOUR": ts("07:00"),
                "ENERGY_KWH": 7.0,
                "REGEN_KWH": 1.0,
                "TRACTION_KWH": 8.0,
            },
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "HOUR": ts("08:00"),
                "ENERGY_KWH": 1.5,
                "REGEN_KWH": 1.5,
                "TRACTION_KWH": 3.0,
            },
            {
                "RUN_ID": "r2",
                "LINE_ID": "L1",
                "HOUR": ts("07:00"),
                "ENERGY_KWH": 10.0,
                "REGEN_KWH": 1.0,
                "TRACTION_KWH": 11.0,
            },
        ],
    ),
    # Departures: T1 07:59:30 (first: no headway), T2 08:03:30 (240 s of 300: 0.8), T3 08:05 (90 of 300: 0.3, bunched).
    "ATS_HEADWAYS": (
        "DEPARTED_AT",
        [
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "STATION_ID": "S1",
                "STATION_NAME": "Alpha",
                "DIRECTION": 0,
                "TRAIN_ID": "T1",
                "DEPARTED_AT": ts("07:59:30"),
                "HEADWAY_S": None,
                "SCHEDULED_HEADWAY_S": 300.0,
                "HEADWAY_RATIO": None,
                "IS_BUNCHED": False,
            },
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "STATION_ID": "S1",
                "STATION_NAME": "Alpha",
                "DIRECTION": 0,
                "TRAIN_ID": "T2",
                "DEPARTED_AT": ts("08:03:30"),
                "HEADWAY_S": 240.0,
                "SCHEDULED_HEADWAY_S": 300.0,
                "HEADWAY_RATIO": 0.8,
                "IS_BUNCHED": False,
            },
            {
                "RUN_ID": "r1",
                "LINE_ID": "L1",
                "STATION_ID": "S1",
                "STATION_NAME": "Alpha",
                "DIRECTION": 0,
                "TRAIN_ID": "T3",
                "DEPARTED_AT": ts("08:05:00"),
                "HEADWAY_S": 90.0,
                "SCHEDULED_HEADWAY_S": 300.0,
                "HEADWAY_RATIO": 0.3,
                "IS_BUNCHED": True,
            },
        ],
    ),
}
