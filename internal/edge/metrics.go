package edge

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// The status codes the edge answers with. Their request counters are
// resolved once, so counting a request is one atomic add.
var codes = [...]int{200, 301, 304, 400, 404, 405, 500, 206, 416, 302, 303, 307, 308}

const (
	code200 = iota
	code301
	code304
	code400
	code404
	code405
	code500
	code206
	code416
	code302
	code303
	code307
	code308
)

// count counts a request answered with status; codes the edge answers
// with only through routing rules (410, 451, …) cost a label lookup.
func (m *metrics) count(status int) {
	for i, c := range codes {
		if c == status {
			m.requests[i].Inc()
			return
		}
	}
	m.vec.WithLabelValues(strconv.Itoa(status)).Inc()
}

type metrics struct {
	requests    [len(codes)]prometheus.Counter
	vec         *prometheus.CounterVec
	bytes       prometheus.Counter
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	cacheBytes  prometheus.Gauge
	// reloads count whole reloads of the routes, projectReloads reloads
	// of one project's (an event, a caught-up change).
	reloads        prometheus.Counter
	projectReloads prometheus.Counter
	// manifestMisses counts requests that found their deployment's
	// manifest not loaded (a first request, or one after eviction).
	manifestMisses prometheus.Counter
	// proxied counts requests answered by a proxy rule.
	proxied prometheus.Counter
	// cookiesDropped counts Set-Cookie values of header rules dropped
	// for a Domain beyond the site's host (package setcookie).
	cookiesDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apogee_edge_requests_total",
		Help: "Requests served by the edge, by status code.",
	}, []string{"code"})
	m := &metrics{
		vec: requests,
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_edge_response_bytes_total",
			Help: "Response body bytes written by the edge.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_edge_cache_hits_total",
			Help: "File reads served from the edge's memory cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_edge_cache_misses_total",
			Help: "File reads that went to the blob store.",
		}),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "apogee_edge_cache_bytes",
			Help: "Bytes held by the edge's memory cache.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_edge_route_loads_total",
			Help: "Reloads of every route from the store.",
		}),
		projectReloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_edge_project_route_loads_total",
			Help: "Reloads of one project's routes from the store (an event, or a change the edge caught up with).",
		}),
		manifestMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_edge_manifest_misses_total",
			Help: "Requests that found their deployment's manifest not in memory (loads are shared by concurrent requests).",
		}),
		proxied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_edge_proxied_total",
			Help: "Requests a deployment's proxy rule sent to another server (Netlify 200 rules to a URL, Vercel external rewrites).",
		}),
		cookiesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_edge_cookies_dropped_total",
			Help: "Set-Cookie headers of header rules dropped because their Domain reaches beyond the site's own host.",
		}),
	}
	for i, c := range codes {
		m.requests[i] = requests.WithLabelValues(strconv.Itoa(c))
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{requests, m.bytes, m.cacheHits, m.cacheMisses, m.cacheBytes, m.reloads, m.projectReloads, m.manifestMisses, m.proxied, m.cookiesDropped} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("edge: metrics registered twice (one Server per Registerer): %w", err)
			}
			return nil, fmt.Errorf("edge: register metrics: %w", err)
		}
	}
	return m, nil
}
