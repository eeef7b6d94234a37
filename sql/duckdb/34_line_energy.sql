-- ATS_LINE_ENERGY: energy per RUN_ID, LINE_ID and HOUR (UTC).
--   ENERGY_KWH: net energy (drawn minus regenerated): the sum over trains of the increase of each
--     train's cumulative ENERGY_KWH within the hour, i.e. its last value in the hour minus its
--     last value in the train's previous hour (0 before its first). Summed over all hours it
--     equals each train's last cumulative value.
--   REGEN_KWH: the same on REGEN_ENERGY_KWH. TRACTION_KWH = ENERGY_KWH + REGEN_KWH (gross draw).
-- One row per train and hour is reduced first, keyed by the hour's number since the epoch (cheap
-- arithmetic on every row), so the window function runs over hours, not over every sample, and
-- the hour's timestamp is computed on the reduced rows only: on one run of 10 million rows in
-- DuckDB, 460 ms of CPU against 680 ms when keyed by the truncated timestamp (same result).
-- A filter on HOUR does not reach the table scan: the dashboard runs this query on the rows a
-- window's hours depend on (dashboard/hourly.py).
CREATE OR REPLACE VIEW ATS_LINE_ENERGY AS
WITH hourly AS (
    SELECT
        RUN_ID,
        LINE_ID,
        TRAIN_ID,
        FLOOR(EXTRACT(EPOCH FROM "TIMESTAMP") / 3600) AS HOUR_KEY,
        MIN("TIMESTAMP") AS FIRST_AT,
        MAX_BY(ENERGY_KWH, "TIMESTAMP") AS LAST_ENERGY,
        MAX_BY(REGEN_ENERGY_KWH, "TIMESTAMP") AS LAST_REGEN
    FROM ATS_TRANSFORMED
    GROUP BY RUN_ID, LINE_ID, TRAIN_ID, HOUR_KEY
),
steps AS (
    SELECT
        RUN_ID,
        LINE_ID,
        HOUR_KEY,
        FIRST_AT,
        LAST_ENERGY - COALESCE(LAG(LAST_ENERGY) OVER (
            PARTITION BY RUN_ID, TRAIN_ID ORDER BY HOUR_KEY), 0) AS D_ENERGY,
        LAST_REGEN - COALESCE(LAG(LAST_REGEN) OVER (
            PARTITION BY RUN_ID, TRAIN_ID ORDER BY HOUR_KEY), 0) AS D_REGEN
    FROM hourly
),
per_line AS (
    SELECT
        RUN_ID,
        LINE_ID,
        MIN(FIRST_AT) AS "TIMESTAMP",
        SUM(D_ENERGY) AS ENERGY_KWH,
        SUM(D_REGEN) AS REGEN_KWH
    FROM steps
    GROUP BY RUN_ID, LINE_ID, HOUR_KEY
)
SELECT
    RUN_ID,
    LINE_ID,
    time_bucket(INTERVAL '1 hour', "TIMESTAMP") AS HOUR,
    ENERGY_KWH,
    REGEN_KWH,
    ENERGY_KWH + REGEN_KWH AS TRACTION_KWH
FROM per_line;
