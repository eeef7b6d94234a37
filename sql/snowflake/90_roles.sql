-- {{reader_role}}: read-only role for dashboards: USAGE on the database, schema and warehouse,
-- SELECT on every view (now and future), on the typed dynamic tables and on the raw table.
-- Granting the role to users is left to the account's administrators.
CREATE ROLE IF NOT EXISTS {{reader_role}};
GRANT USAGE ON DATABASE {{database}} TO ROLE {{reader_role}};
GRANT USAGE ON SCHEMA {{database}}.{{schema}} TO ROLE {{reader_role}};
GRANT USAGE ON WAREHOUSE {{warehouse}} TO ROLE {{reader_role}};
GRANT SELECT ON ALL VIEWS IN SCHEMA {{database}}.{{schema}} TO ROLE {{reader_role}};
GRANT SELECT ON FUTURE VIEWS IN SCHEMA {{database}}.{{schema}} TO ROLE {{reader_role}};
GRANT SELECT ON ALL DYNAMIC TABLES IN SCHEMA {{database}}.{{schema}} TO ROLE {{reader_role}};
GRANT SELECT ON FUTURE DYNAMIC TABLES IN SCHEMA {{database}}.{{schema}} TO ROLE {{reader_role}};
GRANT SELECT ON TABLE {{database}}.{{schema}}.ATS_RAW_JSON TO ROLE {{reader_role}};
