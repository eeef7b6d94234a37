-- ATS_RAW_JSON: the Snowflake Kafka connector's table layout; every record type lands here.
--   RECORD_METADATA  JSON  topic, partition, offset, CreateTime (epoch ms), key (train or
--                          station id, when not null), headers {record_type, schema_version}
--   RECORD_CONTENT   JSON  the record's canonical JSON, byte for byte (ats_sim.records.json_lines)
-- zstd keeps the JSON about 3x smaller than DuckDB's default string compression, and writes faster.
CREATE TABLE IF NOT EXISTS ATS_RAW_JSON (
    RECORD_METADATA JSON USING COMPRESSION zstd,
    RECORD_CONTENT JSON USING COMPRESSION zstd
);
