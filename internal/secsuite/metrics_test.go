package secsuite

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsNotPublic: the server's Prometheus figures (request counts
// by route, build and sign-in counts, process figures) are served only on
// --metrics-listen, never on the public listener, by any Host.
func TestMetricsNotPublic(t *testing.T) {
	w := startWorld(t, "")
	for _, p := range w.principals() {
		for _, path := range []string{"/metrics", "/metrics/", "/METRICS"} {
			res := w.do(p, request{method: "GET", path: path})
			if res.status != http.StatusNotFound || strings.Contains(string(res.body), "go_goroutines") {
				t.Errorf("%s GET %s on the public listener: %s, want 404", p.role, path, res)
			}
		}
	}
	res, err := http.Get("http://" + w.srv.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(b), "apogee_api_requests_total") {
		t.Fatalf("--metrics-listen /metrics: %d %.100q", res.StatusCode, b)
	}
}
