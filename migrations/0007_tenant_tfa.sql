-- Schema version 7: a tenant's two-factor settings (DocSpace's TfaAppAuthSettings).
--
-- Applied by src/store/sqlite.c inside one BEGIN IMMEDIATE transaction, which also sets
-- PRAGMA user_version to 7, so this file must not open or close transactions itself. The
-- conventions of 0001_init.sql hold here too.
--
-- No row means two-factor sign-in is off. Settings change at run time (PUT
-- /api/2.0/settings/tfaapp, identityctl tenant tfa), so they live here rather than in the
-- configuration file, where every instance sharing the database sees the same ones.
--   trusted_ips      the entries clients from which are not challenged, comma-separated,
--                    each an address, an a-b range or a CIDR (checked before they are stored)
--   mandatory_users  user ids challenged even from a trusted address, comma-separated
CREATE TABLE tenant_tfa (
    tenant_id       INTEGER PRIMARY KEY NOT NULL REFERENCES tenants (id),
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    trusted_ips     TEXT    NOT NULL DEFAULT ''
                            CHECK (length(CAST(trusted_ips AS BLOB)) <= 2047),
    mandatory_users TEXT    NOT NULL DEFAULT ''
                            CHECK (length(CAST(mandatory_users AS BLOB)) <= 2047),
    updated         INTEGER NOT NULL
) STRICT;

-- Serves ending every session of a tenant when two-factor sign-in is turned on.
CREATE INDEX login_events_tenant_active ON login_events (tenant_id) WHERE active = 1;
