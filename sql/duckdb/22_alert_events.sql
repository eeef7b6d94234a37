-- ATS_ALERT_EVENTS: typed alert events (each alert raised once, cleared once), one row per RECORD_ID.
-- Filled by the DuckDB sink in the same transaction as ATS_RAW_JSON.
CREATE TABLE IF NOT EXISTS ATS_ALERT_EVENTS (
    {{alert_columns}}
);
