package dashboard

import (
	"fmt"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// The app page's autoscaling card: instances and requests in flight over
// the last hour as a scaleGraph drawn on the server (inline SVG, no script),
// and the autoscaler's decisions with their reasons.

// scaleGraph is an SVG chart of an app's last hour: two polylines over a
// viewBox of chartW × chartH.
type scaleGraph struct {
	W, H      int
	Instances string // polyline points
	InFlight  string
	MaxInst   int
	MaxFlight int64
	Points    int
}

const chartW, chartH = 600, 120

// scaleChart draws the samples of the hour before now; nil without any.
func scaleChart(as *apogee.AppScaling, now time.Time) *scaleGraph {
	if as == nil || len(as.History) == 0 {
		return nil
	}
	c := &scaleGraph{W: chartW, H: chartH, MaxInst: 1, MaxFlight: 1}
	for _, s := range as.History {
		c.MaxInst = max(c.MaxInst, s.Instances)
		c.MaxFlight = max(c.MaxFlight, s.InFlight)
	}
	from := now.Add(-apogee.ScaleHistory)
	var inst, flight strings.Builder
	for _, s := range as.History {
		x := float64(chartW) * float64(s.At.Sub(from)) / float64(apogee.ScaleHistory)
		x = min(max(x, 0), chartW)
		fmt.Fprintf(&inst, "%.1f,%.1f ", x, chartH-float64(chartH-4)*float64(s.Instances)/float64(c.MaxInst))
		fmt.Fprintf(&flight, "%.1f,%.1f ", x, chartH-float64(chartH-4)*float64(s.InFlight)/float64(c.MaxFlight))
		c.Points++
	}
	c.Instances, c.InFlight = strings.TrimSpace(inst.String()), strings.TrimSpace(flight.String())
	return c
}
