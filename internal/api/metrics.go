package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	deploys     *prometheus.CounterVec
	aliasMoves  *prometheus.CounterVec
	logins      *prometheus.CounterVec
	uploadBytes prometheus.Counter
	uploadFiles prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_api_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apogee_api_request_duration_seconds", Help: "API request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_deployments_ready_total", Help: "Deployments finalized, by target.",
		}, []string{"target"}),
		aliasMoves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_alias_moves_total", Help: "Production pointer moves by promote or rollback.",
		}, []string{"action"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_logins_total", Help: "Password logins by result.",
		}, []string{"result"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_upload_bytes_total", Help: "Bytes of deployment files uploaded and stored.",
		}),
		uploadFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_upload_files_total", Help: "Deployment files uploaded and stored.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.deploys, m.aliasMoves, m.logins, m.uploadBytes, m.uploadFiles)
	}
	return m
}

// instrument counts requests of one route pattern by status and times them.
func (m *metrics) instrument(pattern string, next http.Handler) http.Handler {
	obs := m.duration.WithLabelValues(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		obs.Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(pattern, strconv.Itoa(rec.status)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
