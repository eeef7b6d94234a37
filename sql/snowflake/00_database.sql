-- Database and schema that hold every ats-sim object; later files use unqualified names.
-- The database and schema names are the `database` and `schema` parameters (see sql/README.md).
CREATE DATABASE IF NOT EXISTS {{database}};
CREATE SCHEMA IF NOT EXISTS {{database}}.{{schema}};
USE SCHEMA {{database}}.{{schema}};
