-- Schema version 6 for PostgreSQL: two-factor sign-in with an authenticator app, per user.
-- The same schema as migrations/0006_user_tfa.sql; read that file for the columns. Applied
-- as 0001_init.sql says.
CREATE TABLE user_tfa (
    user_id   TEXT   PRIMARY KEY NOT NULL REFERENCES users (id),
    secret    TEXT   CHECK (secret IS NULL OR octet_length(secret) BETWEEN 7 AND 159),
    salt      BIGINT,
    codes     TEXT   CHECK (codes IS NULL OR octet_length(codes) BETWEEN 7 AND 159),
    last_step BIGINT NOT NULL DEFAULT -1 CHECK (last_step >= -1),
    created   BIGINT NOT NULL,
    updated   BIGINT NOT NULL,
    CHECK ((secret IS NULL) <> (salt IS NULL))
);
