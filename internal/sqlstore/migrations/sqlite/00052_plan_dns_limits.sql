-- +goose Up
-- DNS limits of plans (issue 18): zones a user may delegate and records
-- per zone. Every plan that exists gets the free plan's
-- (apogee.DefaultDNSZones, apogee.DefaultDNSRecords).
ALTER TABLE plans ADD COLUMN dns_zones INTEGER NOT NULL DEFAULT 3;
ALTER TABLE plans ADD COLUMN dns_records INTEGER NOT NULL DEFAULT 100;

-- +goose Down
ALTER TABLE plans DROP COLUMN dns_records;
ALTER TABLE plans DROP COLUMN dns_zones;
