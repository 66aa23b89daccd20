package apphost

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count what the host does with releases, and what runs.
type metrics struct {
	releases *prometheus.CounterVec // by outcome: live, failed
	ready    prometheus.Histogram   // seconds from the gate's call to the release's instances ready
	scaleUp  prometheus.Histogram   // seconds from an autoscaler's scale-up to the new instances in the pool
}

func newMetrics(reg prometheus.Registerer, h *Host) (*metrics, error) {
	m := &metrics{
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_app_releases_total", Help: "App releases asked to serve production, by outcome (live, failed).",
		}, []string{"outcome"}),
		ready: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "apogee_app_release_ready_seconds", Help: "Time for a release to be ready to serve production: its tree, release command and instances.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120},
		}),
		scaleUp: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "apogee_app_scale_up_seconds", Help: "Time from the autoscaler's decision to scale an app up to its new instances taking requests.",
			Buckets: []float64{0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60},
		}),
	}
	if reg == nil {
		return m, nil
	}
	instances := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "apogee_app_instances", Help: "App instances running on this server, of every release.",
	}, func() float64 {
		n := 0
		for _, ids := range h.m.Running() {
			for _, id := range ids {
				n += len(h.m.Instances(id))
			}
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{m.releases, m.ready, m.scaleUp, instances} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("apphost: register metrics: %w", err)
		}
	}
	return m, nil
}
