package server

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/platform"
)

// edgeCounter reads the edge's traffic for the admin figures from the
// process's Prometheus metrics (internal/edge/metrics.go): what /metrics
// shows is what the dashboard shows.
type edgeCounter struct{ g prometheus.Gatherer }

var _ platform.EdgeCounter = edgeCounter{}

// The edge's counters.
const (
	edgeRequestsMetric = "apogee_edge_requests_total"       // by code
	edgeBytesMetric    = "apogee_edge_response_bytes_total" // response bodies
	accessDropMetric   = "apogee_access_dropped_total"      // request records dropped (internal/access)
)

// EdgeTraffic sums the edge's request counter over every status code and
// reads its byte counter and the access log's count of dropped records.
func (e edgeCounter) EdgeTraffic(ctx context.Context) (apogee.EdgeTraffic, error) {
	var t apogee.EdgeTraffic
	mfs, err := e.g.Gather()
	if err != nil {
		return t, fmt.Errorf("gather metrics: %w", err)
	}
	for _, mf := range mfs {
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
		switch mf.GetName() {
		case edgeRequestsMetric:
			t.Requests = uint64(sum)
		case edgeBytesMetric:
			t.Bytes = uint64(sum)
		case accessDropMetric:
			t.AccessDropped = uint64(sum)
		}
	}
	return t, nil
}
