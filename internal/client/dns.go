package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/apogee-dev/apogee"
)

// AddZone delegates a DNS zone to the platform.
func (c *Client) AddZone(ctx context.Context, req apogee.AddZoneRequest) (*apogee.ZoneView, error) {
	var out apogee.ZoneView
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/dns/zones", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListZones returns the zones of a scope by name: the user's own (team
// ""), or a team's.
func (c *Client) ListZones(ctx context.Context, team string) ([]apogee.ZoneView, error) {
	var out struct {
		Zones []apogee.ZoneView `json:"zones"`
	}
	q := url.Values{}
	if team != "" {
		q.Set("team", team)
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/dns/zones", query: q, out: &out}); err != nil {
		return nil, err
	}
	return out.Zones, nil
}

// VerifyZone checks the zone's delegation.
func (c *Client) VerifyZone(ctx context.Context, zone string) (*apogee.ZoneView, error) {
	var out apogee.ZoneView
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/dns/zones/" + esc(zone) + "/verify", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveZone removes the zone and its records.
func (c *Client) RemoveZone(ctx context.Context, zone string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/dns/zones/" + esc(zone)})
}

// AddRecord adds a record to the zone.
func (c *Client) AddRecord(ctx context.Context, zone string, req apogee.AddRecordRequest) (*apogee.ZoneRecord, error) {
	var out apogee.ZoneRecord
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/dns/zones/" + esc(zone) + "/records", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListRecords returns the zone's records by name and type.
func (c *Client) ListRecords(ctx context.Context, zone string) ([]apogee.ZoneRecord, error) {
	var out struct {
		Records []apogee.ZoneRecord `json:"records"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/dns/zones/" + esc(zone) + "/records", out: &out}); err != nil {
		return nil, err
	}
	return out.Records, nil
}

// UpdateRecord changes record id of the zone: each field set replaces
// the record's.
func (c *Client) UpdateRecord(ctx context.Context, zone, id string, req apogee.UpdateRecordRequest) (*apogee.ZoneRecord, error) {
	var out apogee.ZoneRecord
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v1/dns/zones/" + esc(zone) + "/records/" + esc(id), in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveRecord removes record id of the zone.
func (c *Client) RemoveRecord(ctx context.Context, zone, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/dns/zones/" + esc(zone) + "/records/" + esc(id)})
}
