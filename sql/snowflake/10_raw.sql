-- ATS_RAW_JSON: the Snowflake Kafka connector's table layout; every record type lands here.
--   RECORD_METADATA  VARIANT  topic, partition, offset, CreateTime (epoch ms), key (train or
--                             station id, when not null), headers {record_type, schema_version}
--   RECORD_CONTENT   VARIANT  the record's canonical JSON (ats_sim.records.json_lines)
-- Never replaced: running this file twice keeps the data.
CREATE TABLE IF NOT EXISTS ATS_RAW_JSON (
    RECORD_METADATA VARIANT,
    RECORD_CONTENT VARIANT
);
