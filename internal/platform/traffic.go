package platform

import (
	"context"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/traffic"
)

// traffic implements apogee.TrafficService.
type trafficService struct{ pl *Platform }

var _ apogee.TrafficService = trafficService{}

// maxTrafficRange bounds what one Traffic call sums.
const maxTrafficRange = 31 * 24 * time.Hour

func (s trafficService) Traffic(ctx context.Context, project string, q apogee.TrafficQuery) (*apogee.Traffic, error) {
	_, p, err := s.pl.project(ctx, project, needRead)
	if err != nil {
		return nil, err
	}
	if q.Until.IsZero() {
		q.Until = time.Now()
	}
	if q.Since.IsZero() {
		q.Since = q.Until.Add(-24 * time.Hour)
	}
	switch {
	case !q.Since.Before(q.Until):
		return nil, apogee.Errorf(apogee.EINVALID, "since must be before until")
	case q.Until.Sub(q.Since) > maxTrafficRange:
		return nil, apogee.Errorf(apogee.EINVALID, "ask for at most 31 days of traffic")
	case q.Top < 0 || q.Top > 100:
		return nil, apogee.Errorf(apogee.EINVALID, "top %d: ask for 1 to 100 rows", q.Top)
	}
	switch q.Bucket {
	case 0:
		q.Bucket = bucketFor(q.Until.Sub(q.Since))
	case time.Minute, time.Hour, 24 * time.Hour:
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "bucket %s: a minute, an hour or a day", q.Bucket)
	}
	t, err := traffic.Sum(ctx, s.pl.store, p.ID, q)
	if err != nil {
		return nil, fmt.Errorf("platform: traffic of %s: %w", project, err)
	}
	return &t, nil
}

// bucketFor is the series step for a range: minutes up to 2 hours, hours
// up to 2 days, days beyond.
func bucketFor(d time.Duration) time.Duration {
	switch {
	case d <= 2*time.Hour:
		return time.Minute
	case d <= 48*time.Hour:
		return time.Hour
	}
	return 24 * time.Hour
}

// maxRequests bounds one read of the request log.
const maxRequests = 5000

func (s trafficService) Requests(ctx context.Context, project string, q apogee.RequestQuery) ([]apogee.Request, error) {
	_, p, err := s.pl.project(ctx, project, needRead)
	if err != nil {
		return nil, err
	}
	switch {
	case q.Limit < 0 || q.Limit > maxRequests:
		return nil, apogee.Errorf(apogee.EINVALID, "limit %d: ask for 1 to %d records", q.Limit, maxRequests)
	case q.StatusClass < 0 || q.StatusClass > 5:
		return nil, apogee.Errorf(apogee.EINVALID, "status class %d: 1 to 5 (1xx to 5xx)", q.StatusClass)
	case len(q.Path) > 1024:
		return nil, apogee.Errorf(apogee.EINVALID, "path: at most 1,024 bytes")
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	rs, err := s.pl.store.Requests(ctx, p.ID, q)
	if err != nil {
		return nil, fmt.Errorf("platform: requests of %s: %w", project, err)
	}
	return rs, nil
}
