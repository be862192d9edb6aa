-- Schema version 6: two-factor sign-in with an authenticator app, per user.
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 6, so this file must not open or close transactions itself. The
-- conventions of 0001_init.sql hold here too.
--
-- A row exists once a user has been shown a key to enter into an app (the first sign-in step
-- of an activation), and is deleted when the user's app is unlinked. Its secret is either
--   secret  a sealed record ($tfa1$..., include/identityd/cred/totp.h): 160 random bits,
--           AES-256-GCM under a key derived from the pepper, bound to the user: the database
--           alone does not reveal it; or
--   salt    DocSpace's per-user salt, for tenants moved from DocSpace (`tfa.secret:
--           docspace`): the secret is derived from it and the machine key, as DocSpace does.
-- codes holds the sealed backup codes and their used flags; NULL until the first successful
-- code, so "set up" (DocSpace: the user has backup codes) is codes IS NOT NULL.
-- last_step is the last TOTP step accepted (-1: none): a code is accepted only for a later
-- step, written with a conditional UPDATE so that two uses of one code cannot both pass.
CREATE TABLE user_tfa (
    user_id   TEXT    PRIMARY KEY NOT NULL REFERENCES users (id),
    secret    TEXT    CHECK (secret IS NULL OR length(CAST(secret AS BLOB)) BETWEEN 7 AND 159),
    salt      INTEGER,
    codes     TEXT    CHECK (codes IS NULL OR length(CAST(codes AS BLOB)) BETWEEN 7 AND 159),
    last_step INTEGER NOT NULL DEFAULT -1 CHECK (last_step >= -1),
    created   INTEGER NOT NULL,
    updated   INTEGER NOT NULL,
    CHECK ((secret IS NULL) <> (salt IS NULL))
) STRICT;
