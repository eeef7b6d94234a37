-- ATS_STATION_EVENTS: typed station events (arrivals and departures), one row per RECORD_ID.
-- Filled by the DuckDB sink in the same transaction as ATS_RAW_JSON.
CREATE TABLE IF NOT EXISTS ATS_STATION_EVENTS (
    {{station_event_columns}}
);
