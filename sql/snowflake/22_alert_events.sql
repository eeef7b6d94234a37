-- ATS_ALERT_EVENTS: typed alert events (each alert raised once, cleared once), one row per RECORD_ID.
-- Columns: {{alert_names}}
CREATE OR REPLACE DYNAMIC TABLE ATS_ALERT_EVENTS
    TARGET_LAG = {{target_lag}}
    WAREHOUSE = {{warehouse}}
AS
SELECT
    {{alert_select}}
FROM ATS_RAW_JSON
WHERE RECORD_CONTENT:"record_type"::VARCHAR = 'alert'
QUALIFY ROW_NUMBER() OVER (
    PARTITION BY RECORD_CONTENT:"record_id"::VARCHAR
    ORDER BY RECORD_METADATA:"CreateTime"::NUMBER, RECORD_METADATA:"offset"::NUMBER
) = 1;
