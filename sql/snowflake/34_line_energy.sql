-- ATS_LINE_ENERGY: energy per RUN_ID, LINE_ID and HOUR (UTC).
--   ENERGY_KWH: net energy (drawn minus regenerated), the sum over trains of the increase of each
--     train's cumulative ENERGY_KWH since its previous sample (its first sample counts from 0),
--     attributed to the hour of the later sample. Summed over all hours it equals each train's
--     last cumulative value.
--   REGEN_KWH: the same on REGEN_ENERGY_KWH. TRACTION_KWH = ENERGY_KWH + REGEN_KWH (gross draw).
CREATE OR REPLACE VIEW ATS_LINE_ENERGY AS
WITH steps AS (
    SELECT
        RUN_ID,
        LINE_ID,
        DATE_TRUNC('HOUR', "TIMESTAMP") AS HOUR,
        ENERGY_KWH - COALESCE(LAG(ENERGY_KWH) OVER (
            PARTITION BY RUN_ID, TRAIN_ID ORDER BY "TIMESTAMP", RECORD_ID), 0) AS D_ENERGY,
        REGEN_ENERGY_KWH - COALESCE(LAG(REGEN_ENERGY_KWH) OVER (
            PARTITION BY RUN_ID, TRAIN_ID ORDER BY "TIMESTAMP", RECORD_ID), 0) AS D_REGEN
    FROM ATS_TRANSFORMED
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
