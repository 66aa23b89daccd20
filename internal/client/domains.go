package client

import (
	"context"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// AddDomain adds the custom domain name to project. The answer holds the
// DNS records to create: Verification (TXT) to prove control, DNS to
// point the traffic.
func (c *Client) AddDomain(ctx context.Context, project, name string) (*apogee.DomainView, error) {
	var out apogee.DomainView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/domains",
		in: apogee.CreateDomainRequest{Name: name}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListDomains returns project's custom domains by name.
func (c *Client) ListDomains(ctx context.Context, project string) ([]apogee.DomainView, error) {
	var out struct {
		Domains []apogee.DomainView `json:"domains"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + esc(project) + "/domains", out: &out}); err != nil {
		return nil, err
	}
	return out.Domains, nil
}

// GetDomain returns the custom domain name.
func (c *Client) GetDomain(ctx context.Context, name string) (*apogee.DomainView, error) {
	var out apogee.DomainView
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/domains/" + esc(name), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyDomain asks the server to look up the domain's TXT record. While
// the record is missing or wrong it fails with code apogee.ECONFLICT and
// a message saying what was expected and found.
func (c *Client) VerifyDomain(ctx context.Context, name string) (*apogee.DomainView, error) {
	var out apogee.DomainView
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/domains/" + esc(name) + "/verify", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveDomain removes the custom domain name from its project.
func (c *Client) RemoveDomain(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/domains/" + esc(name)})
}
