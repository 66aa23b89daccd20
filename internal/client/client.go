// Package client is the Go client of Apogee's REST API (/api/v1), used by
// the CLI and by anyone scripting Apogee from Go.
//
// Every method takes a context first and returns the wire types of the
// root package. Error responses become *apogee.Error with the server's
// Code, Message and Data, so callers switch on apogee.ErrorCode(err). A
// response that is not Apogee's JSON (a proxy's error page, say) becomes a
// *StatusError. A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// DefaultTimeout bounds each API call other than file uploads, unless the
// caller's context has an earlier deadline. Uploads are bounded only by
// the context and by the transport's connection and header timeouts, as a
// large file on a slow link may take long.
const DefaultTimeout = 60 * time.Second

// maxErrorBody is how much of an error response is read.
const maxErrorBody = 1 << 20

// Client calls one Apogee server with one token.
type Client struct {
	base      string // without a trailing slash
	token     string
	http      *http.Client
	userAgent string
	timeout   time.Duration
	// followBackoff is FollowLogs' first wait before reconnecting.
	followBackoff time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send requests through hc. Its Timeout,
// if any, applies to uploads too.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithTimeout sets the per-call timeout of API calls other than uploads;
// 0 means none.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// New returns a client of the server at baseURL (such as
// "http://localhost:8080") that authenticates with token; token may be
// empty for Login.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		base:      strings.TrimRight(baseURL, "/"),
		token:     token,
		userAgent: "apogee-client",
		timeout:   DefaultTimeout,
	}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: newTransport()}
	}
	return c
}

// newTransport has bounded connection, TLS and header waits but no overall
// deadline, so long uploads can finish. It keeps enough idle connections
// for parallel uploads.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		// Finalize may copy and compress many files before it answers.
		ResponseHeaderTimeout: 5 * time.Minute,
	}
}

// BaseURL returns the server URL the client calls.
func (c *Client) BaseURL() string { return c.base }

// Token returns the token the client sends.
func (c *Client) Token() string { return c.token }

// StatusError is an answer that is not Apogee's JSON: an error page of a
// reverse proxy ("502 Bad Gateway"), or a page of a server that is not
// Apogee's, even with a success status.
type StatusError struct {
	StatusCode int
	Status     string // "502 Bad Gateway"
	Method     string
	URL        string
	Body       string // the first line of the body, cut short
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: server answered %s", e.Method, e.URL, e.Status)
	if e.StatusCode < 400 {
		msg += " with no JSON"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// MissingHashes returns the hashes a missing_files error lists in its
// data, or nil for any other error.
func MissingHashes(err error) []string {
	var e *apogee.Error
	if !errors.As(err, &e) || e.Code != apogee.EMISSING {
		return nil
	}
	m, ok := e.Data.(map[string]any)
	if !ok {
		return nil
	}
	list, _ := m["missing"].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// request describes one API call.
type request struct {
	method string
	path   string // already escaped, starting with "/api/v1"
	query  url.Values
	in     any       // JSON body, or nil
	body   io.Reader // raw body, instead of in
	size   int64     // Content-Length of body
	out    any       // decoded from a 2xx JSON answer, or nil
	upload bool      // no per-call timeout
}

// do sends r and decodes the answer into r.out.
func (c *Client) do(ctx context.Context, r request) error {
	if c.base == "" {
		return apogee.Errorf(apogee.EINVALID, "no server URL configured")
	}
	if !r.upload && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	body := r.body
	if r.in != nil {
		b, err := json.Marshal(r.in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
		r.size = int64(len(b))
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if body != nil {
		req.ContentLength = r.size
		if r.size == 0 {
			req.Body = http.NoBody
		}
		if r.in != nil {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err // *url.Error: names method and URL, wraps the cause
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return decodeError(req, resp)
	}
	if r.out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		// Not an Apogee server, or a proxy's page with a success status.
		return decodeError(req, resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(r.out); err != nil {
		return fmt.Errorf("%s %s: decode %s answer: %w", r.method, r.path, resp.Status, err)
	}
	return nil
}

// decodeError turns an error response into *apogee.Error, or into a
// *StatusError when the body is not Apogee's JSON.
func decodeError(req *http.Request, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var eb apogee.ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		return &apogee.Error{Code: eb.Error.Code, Message: eb.Error.Message, Data: eb.Error.Data}
	}
	line := strings.TrimSpace(string(b))
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	u := *req.URL
	u.RawQuery = ""
	return &StatusError{StatusCode: resp.StatusCode, Status: resp.Status, Method: req.Method, URL: u.String(), Body: line}
}

func esc(s string) string { return url.PathEscape(s) }
