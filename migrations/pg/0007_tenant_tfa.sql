-- Schema version 7 for PostgreSQL: a tenant's two-factor settings. The same schema as
-- migrations/0007_tenant_tfa.sql; read that file for the columns. Applied as 0001_init.sql
-- says.
CREATE TABLE tenant_tfa (
    tenant_id       BIGINT  PRIMARY KEY NOT NULL REFERENCES tenants (id),
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    trusted_ips     TEXT    NOT NULL DEFAULT '' CHECK (octet_length(trusted_ips) <= 2047),
    mandatory_users TEXT    NOT NULL DEFAULT '' CHECK (octet_length(mandatory_users) <= 2047),
    updated         BIGINT  NOT NULL
);

CREATE INDEX login_events_tenant_active ON login_events (tenant_id) WHERE active = 1;
