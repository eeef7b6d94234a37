-- ATS_DEAD_LETTER: every Kafka message `ats-sim ingest` read that is not a known record (not
-- JSON, an unknown record_type, a missing field, a value of the wrong type), with the reason.
-- Stored instead of ATS_RAW_JSON, in the same commit; the ingester goes on. One row per
-- (KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET). Never replaced: running this file twice keeps
-- the data. sql/duckdb/15_dead_letter.sql is the same table in DuckDB types.
CREATE TABLE IF NOT EXISTS ATS_DEAD_LETTER (
    KAFKA_TOPIC VARCHAR NOT NULL,      -- topic the message came from
    KAFKA_PARTITION INTEGER NOT NULL,  -- its partition
    KAFKA_OFFSET BIGINT NOT NULL,      -- its offset
    KAFKA_KEY VARCHAR,                 -- its key (UTF-8, invalid bytes escaped), if any
    KAFKA_HEADERS VARIANT,             -- its headers as an object of strings
    KAFKA_TIMESTAMP BIGINT,            -- its Kafka timestamp, epoch ms
    RAW_VALUE BINARY,                  -- the message value exactly as it arrived (NULL: tombstone)
    ERROR VARCHAR NOT NULL,            -- why it is not a known record
    INGESTED_AT TIMESTAMP_TZ NOT NULL  -- when the ingester stored it
);
