-- ATS_STATION_EVENTS: typed station events (arrivals and departures), one row per RECORD_ID.
-- Columns: {{station_event_names}}
CREATE OR REPLACE DYNAMIC TABLE ATS_STATION_EVENTS
    TARGET_LAG = {{target_lag}}
    WAREHOUSE = {{warehouse}}
AS
SELECT
    {{station_event_select}}
FROM ATS_RAW_JSON
WHERE RECORD_CONTENT:"record_type"::VARCHAR = 'station_event'
QUALIFY ROW_NUMBER() OVER (
    PARTITION BY RECORD_CONTENT:"record_id"::VARCHAR
    ORDER BY RECORD_METADATA:"CreateTime"::NUMBER, RECORD_METADATA:"offset"::NUMBER
) = 1;
