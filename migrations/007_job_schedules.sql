-- Up Migration

-- With MONGODB_URL, Agenda's job ids are MongoDB ObjectIds (24 hex digits), not UUIDs; the
-- results of its runs still live here, in PostgreSQL.
ALTER TABLE job_results ALTER COLUMN job_id TYPE text;

-- A row means the job's default schedule (its JobDefinition's defaultEvery) has been created
-- once, or that ops have set or removed its schedule. A worker creates a default only while
-- inserting this row, so however many workers start together the default is created once,
-- and a restart never brings back a schedule that ops removed or changed.
CREATE TABLE job_default_schedules (
  job_name     text        PRIMARY KEY,
  installed_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE job_default_schedules;
ALTER TABLE job_results ALTER COLUMN job_id TYPE uuid USING job_id::uuid;
