-- Schema version 9 for PostgreSQL: brute-force counters every instance shares. The same
-- schema as migrations/0009_bruteforce.sql; read that file for what the tables hold and
-- why. Applied as 0001_init.sql says.
CREATE TABLE bruteforce_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BYTEA   NOT NULL CHECK (length(key) = 16)
);

CREATE TABLE bruteforce_counters (
    tag         BYTEA   PRIMARY KEY CHECK (length(tag) = 16),
    failures    INTEGER NOT NULL CHECK (failures >= 1),
    deadline_ms BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL
);
CREATE INDEX bruteforce_counters_updated ON bruteforce_counters (updated_ms);
CREATE INDEX bruteforce_counters_deadline ON bruteforce_counters (deadline_ms);
