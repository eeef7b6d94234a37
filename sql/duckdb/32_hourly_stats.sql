-- ATS_HOURLY_STATS: telemetry per RUN_ID, LINE_ID and HOUR (record time truncated to the hour, UTC).
--   RECORDS (telemetry rows), TRAINS (distinct trains), AVG_PASSENGERS, MAX_PASSENGERS,
--   AVG_LOAD_FACTOR, AVG_SPEED_KMH, AVG_POWER_KW, MAX_POWER_KW (power at the collector),
--   OVERCROWDED_SHARE and HIGH_POWER_SHARE (fraction of rows with the flag set, 0..1).
-- Rows are first reduced to one per train and hour, keyed by the hour's number since the epoch
-- (cheap arithmetic on every row), then summed per line; TRAINS is the number of those rows,
-- so no COUNT(DISTINCT). The hour's timestamp is computed on the reduced rows only. On one run
-- of 10 million rows in DuckDB this takes less than half the CPU of a single GROUP BY on the
-- truncated timestamp with COUNT(DISTINCT TRAIN_ID) (575 against 1,300 ms); averages are sums
-- over counts, equal to plain averages up to floating-point rounding. A filter on HOUR does not
-- reach the table scan: the dashboard runs this query on the window's rows (dashboard/hourly.py).
CREATE OR REPLACE VIEW ATS_HOURLY_STATS AS
WITH per_train AS (
    SELECT
        RUN_ID,
        LINE_ID,
        TRAIN_ID,
        FLOOR(EXTRACT(EPOCH FROM "TIMESTAMP") / 3600) AS HOUR_KEY,
        MIN("TIMESTAMP") AS FIRST_AT,
        COUNT(*) AS N,
        SUM(PASSENGER_COUNT) AS PASSENGERS,
        MAX(PASSENGER_COUNT) AS MAX_PASSENGERS,
        SUM(LOAD_FACTOR) AS LOAD_FACTOR,
        SUM(SPEED_KMH) AS SPEED_KMH,
        SUM(POWER_DRAW_KW) AS POWER_KW,
        MAX(POWER_DRAW_KW) AS MAX_POWER_KW,
        SUM(CASE WHEN IS_OVERCROWDED THEN 1 ELSE 0 END) AS OVERCROWDED,
        SUM(CASE WHEN IS_HIGH_POWER_DRAW THEN 1 ELSE 0 END) AS HIGH_POWER
    FROM ATS_TRANSFORMED
    GROUP BY RUN_ID, LINE_ID, TRAIN_ID, HOUR_KEY
),
per_line AS (
    SELECT
        RUN_ID,
        LINE_ID,
        MIN(FIRST_AT) AS "TIMESTAMP",
        SUM(N) AS N,
        COUNT(*) AS TRAINS,
        SUM(PASSENGERS) AS PASSENGERS,
        MAX(MAX_PASSENGERS) AS MAX_PASSENGERS,
        SUM(LOAD_FACTOR) AS LOAD_FACTOR,
        SUM(SPEED_KMH) AS SPEED_KMH,
        SUM(POWER_KW) AS POWER_KW,
        MAX(MAX_POWER_KW) AS MAX_POWER_KW,
        SUM(OVERCROWDED) AS OVERCROWDED,
        SUM(HIGH_POWER) AS HIGH_POWER
    FROM per_train
    GROUP BY RUN_ID, LINE_ID, HOUR_KEY
)
SELECT
    RUN_ID,
    LINE_ID,
    time_bucket(INTERVAL '1 hour', "TIMESTAMP") AS HOUR,
    CAST(N AS BIGINT) AS RECORDS,
    TRAINS,
    CAST(PASSENGERS AS DOUBLE) / N AS AVG_PASSENGERS,
    MAX_PASSENGERS,
    LOAD_FACTOR / N AS AVG_LOAD_FACTOR,
    SPEED_KMH / N AS AVG_SPEED_KMH,
    POWER_KW / N AS AVG_POWER_KW,
    MAX_POWER_KW,
    CAST(OVERCROWDED AS DOUBLE) / N AS OVERCROWDED_SHARE,
    CAST(HIGH_POWER AS DOUBLE) / N AS HIGH_POWER_SHARE
FROM per_line;
