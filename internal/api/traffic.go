package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/apogee-dev/apogee"
)

// analytics sums a project's traffic. Query: since, until (RFC 3339 or a
// duration before now: 24h, 7d), deployment, bucket (1m, 1h, 1d), top.
func (a *API) analytics(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	now := time.Now()
	q := apogee.TrafficQuery{DeploymentID: v.Get("deployment")}
	var err error
	if q.Since, err = apogee.ParseLogTime(v.Get("since"), now); err != nil {
		return err
	}
	if q.Until, err = apogee.ParseLogTime(v.Get("until"), now); err != nil {
		return err
	}
	switch b := v.Get("bucket"); b {
	case "":
	case "1m":
		q.Bucket = time.Minute
	case "1h":
		q.Bucket = time.Hour
	case "1d":
		q.Bucket = 24 * time.Hour
	default:
		return apogee.Errorf(apogee.EINVALID, "bucket %q: 1m, 1h or 1d", b)
	}
	if s := v.Get("top"); s != "" {
		if q.Top, err = strconv.Atoi(s); err != nil || q.Top < 1 {
			return apogee.Errorf(apogee.EINVALID, "top %q must be a number of rows, 1 to 100", s)
		}
	}
	t, err := a.svc.Traffic.Traffic(r.Context(), r.PathValue("name"), q)
	return answer(w, http.StatusOK, t, err)
}

// requests returns records of a project's request log, oldest first.
// Query: since, until, status (a class: 5xx), path (exact, or a prefix
// ending in *), deployment, after (a record id, to follow), limit.
func (a *API) requests(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	now := time.Now()
	q := apogee.RequestQuery{Path: v.Get("path"), DeploymentID: v.Get("deployment")}
	var err error
	if q.Since, err = apogee.ParseLogTime(v.Get("since"), now); err != nil {
		return err
	}
	if q.Until, err = apogee.ParseLogTime(v.Get("until"), now); err != nil {
		return err
	}
	if s := v.Get("status"); s != "" {
		if q.StatusClass, err = apogee.ParseStatusClass(s); err != nil {
			return err
		}
	}
	if s := v.Get("after"); s != "" {
		if q.AfterID, err = strconv.ParseInt(s, 10, 64); err != nil || q.AfterID < 0 {
			return apogee.Errorf(apogee.EINVALID, "after %q must be a record id", s)
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 {
			return apogee.Errorf(apogee.EINVALID, "limit %q must be a number of records", s)
		}
	}
	rs, err := a.svc.Traffic.Requests(r.Context(), r.PathValue("name"), q)
	if rs == nil && err == nil {
		rs = []apogee.Request{}
	}
	return answer(w, http.StatusOK, rs, err)
}
