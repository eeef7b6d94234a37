-- ATS_ALERTS: one row per raised alert.
--   RUN_ID, LINE_ID, ALERT_ID, ALERT_TYPE, SEVERITY, TRAIN_ID, STATION_ID,
--   RAISED_AT (time of the raise), CLEARED_AT (time of the clear; NULL while active),
--   IS_ACTIVE (no clear yet), VALUE and THRESHOLD (as raised), MESSAGE (as raised).
CREATE OR REPLACE VIEW ATS_ALERTS AS
WITH cleared AS (
    SELECT RUN_ID, ALERT_ID, MIN("TIMESTAMP") AS CLEARED_AT
    FROM ATS_ALERT_EVENTS
    WHERE STATE = 'cleared'
    GROUP BY RUN_ID, ALERT_ID
)
SELECT
    r.RUN_ID,
    r.LINE_ID,
    r.ALERT_ID,
    r.ALERT_TYPE,
    r.SEVERITY,
    r.TRAIN_ID,
    r.STATION_ID,
    r."TIMESTAMP" AS RAISED_AT,
    c.CLEARED_AT,
    c.CLEARED_AT IS NULL AS IS_ACTIVE,
    r.VALUE,
    r.THRESHOLD,
    r.MESSAGE
FROM ATS_ALERT_EVENTS AS r
LEFT JOIN cleared AS c
    ON c.RUN_ID = r.RUN_ID AND c.ALERT_ID = r.ALERT_ID
WHERE r.STATE = 'raised';
