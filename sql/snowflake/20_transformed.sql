-- ATS_TRANSFORMED: typed telemetry, one column per TELEMETRY field (ats_sim.records), one row
-- per RECORD_ID (the first copy loaded wins), refreshed from ATS_RAW_JSON within {{target_lag}}.
-- Columns: {{telemetry_names}}
CREATE OR REPLACE DYNAMIC TABLE ATS_TRANSFORMED
    TARGET_LAG = {{target_lag}}
    WAREHOUSE = {{warehouse}}
AS
SELECT
    {{telemetry_select}}
FROM ATS_RAW_JSON
WHERE RECORD_CONTENT:"record_type"::VARCHAR = 'telemetry'
QUALIFY ROW_NUMBER() OVER (
    PARTITION BY RECORD_CONTENT:"record_id"::VARCHAR
    ORDER BY RECORD_METADATA:"CreateTime"::NUMBER, RECORD_METADATA:"offset"::NUMBER
) = 1;
