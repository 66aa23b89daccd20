package platform

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count what the platform does, whichever way it was asked.
type metrics struct {
	deploys     *prometheus.CounterVec
	aliasMoves  *prometheus.CounterVec
	logins      *prometheus.CounterVec
	uploadBytes prometheus.Counter
	uploadFiles prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_deployments_ready_total", Help: "Deployments made ready, by target.",
		}, []string{"target"}),
		aliasMoves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_alias_moves_total", Help: "Production alias moves, by what moved it (deploy, build, promote, rollback).",
		}, []string{"action"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_logins_total", Help: "Password logins by result.",
		}, []string{"result"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_upload_bytes_total", Help: "Bytes of deployment files and source ZIPs uploaded and stored.",
		}),
		uploadFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_upload_files_total", Help: "Deployment files uploaded and stored.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.deploys, m.aliasMoves, m.logins, m.uploadBytes, m.uploadFiles} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("platform: metrics registered twice (one Platform per Registerer): %w", err)
			}
			return nil, fmt.Errorf("platform: register metrics: %w", err)
		}
	}
	return m, nil
}
