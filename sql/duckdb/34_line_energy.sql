-- ATS_LINE_ENERGY: energy per RUN_ID, LINE_ID and HOUR (UTC).
--   ENERGY_KWH: net energy (drawn minus regenerated): the sum over trains of the increase of each
--     train's cumulative ENERGY_KWH within the hour, i.e. its last value in the hour minus its
--     last value in the train's previous hour (0 before its first). Summed over all hours it
--     equals each train's last cumulative value.
--   REGEN_KWH: the same on REGEN_ENERGY_KWH. TRACTION_KWH = ENERGY_KWH + REGEN_KWH (gross draw).
-- One row per train and hour is reduced first, so the window function runs over hours, not over
-- every sample (about 10x faster on millions of rows, same result).
CREATE OR REPLACE VIEW ATS_LINE_ENERGY AS
WITH hourly AS (
    SELECT
        RUN_ID,
        LINE_ID,
        TRAIN_ID,
        time_bucket(INTERVAL '1 hour', "TIMESTAMP") AS HOUR,
        MAX_BY(ENERGY_KWH, "TIMESTAMP") AS LAST_ENERGY,
        MAX_BY(REGEN_ENERGY_KWH, "TIMESTAMP") AS LAST_REGEN
    FROM ATS_TRANSFORMED
    GROUP BY RUN_ID, LINE_ID, TRAIN_ID, HOUR
),
steps AS (
    SELECT
        RUN_ID,
        LINE_ID,
        HOUR,
        LAST_ENERGY - COALESCE(LAG(LAST_ENERGY) OVER (
            PARTITION BY RUN_ID, TRAIN_ID ORDER BY HOUR), 0) AS D_ENERGY,
        LAST_REGEN - COALESCE(LAG(LAST_REGEN) OVER (
            PARTITION BY RUN_ID, TRAIN_ID ORDER BY HOUR), 0) AS D_REGEN
    FROM hourly
)
SELECT
    RUN_ID,
    LINE_ID,
    HOUR,
    SUM(D_ENERGY) AS ENERGY_KWH,
    SUM(D_REGEN) AS REGEN_KWH,
    SUM(D_ENERGY) + SUM(D_REGEN) AS TRACTION_KWH
FROM steps
GROUP BY RUN_ID, LINE_ID, HOUR;
