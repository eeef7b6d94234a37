-- ATS_TRANSFORMED: typed telemetry, one column per TELEMETRY field (ats_sim.records), one row per
-- RECORD_ID. Filled by the DuckDB sink in the same transaction as ATS_RAW_JSON.
CREATE TABLE IF NOT EXISTS ATS_TRANSFORMED (
    {{telemetry_columns}}
);
