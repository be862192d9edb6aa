-- Schema version 9: brute-force counters every process shares.
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 9, so this file must not open or close transactions itself. The
-- conventions of 0001_init.sql hold here too.
--
-- Each identityd counts failed sign-ins in a table of its own memory (src/core/bruteforce.c)
-- and adds each failure here too, so that instances sharing this database count a guess
-- made through any of them (src/auth/bfshare.c). A counter is named only by a keyed hash of
-- what it counts (a login and client pair, a client, a login): the key is the one row of
-- bruteforce_key, drawn by the first identityd that needed it. Times are milliseconds of
-- the Unix epoch: a counter's window or block ends at deadline_ms, and updated_ms is when
-- it last moved, which is what the instances read a few times a second.
CREATE TABLE bruteforce_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB    NOT NULL CHECK (length(key) = 16)
) STRICT;

CREATE TABLE bruteforce_counters (
    tag         BLOB    PRIMARY KEY CHECK (length(tag) = 16),
    failures    INTEGER NOT NULL CHECK (failures >= 1),
    deadline_ms INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX bruteforce_counters_updated ON bruteforce_counters (updated_ms);
CREATE INDEX bruteforce_counters_deadline ON bruteforce_counters (deadline_ms);
