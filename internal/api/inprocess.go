package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// Call serves one API request in process as u, who the caller has
// authenticated already (the dashboard, by its session cookie): method
// and path as on the wire ("/api/v1/projects/web/rollback"), in as the
// JSON body (nil: none; an io.Reader is streamed as is, for a ZIP
// upload) and the JSON answer decoded into out (nil: dropped). Every check, event and metric of the route applies, exactly
// as for a client with a token. An error answer comes back as an
// *apogee.Error with the code and message the client would have read.
func (a *API) Call(ctx context.Context, u *apogee.User, method, path string, in, out any) error {
	var body io.Reader = http.NoBody
	raw, isRaw := in.(io.Reader)
	if isRaw {
		body = raw
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: call %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(context.WithValue(ctx, userKey{}, u), method, path, body)
	if err != nil {
		return fmt.Errorf("api: call %s %s: %w", method, path, err)
	}
	switch {
	case isRaw:
		r.Header.Set("Content-Type", "application/octet-stream")
	case in != nil:
		r.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: make(http.Header), code: http.StatusOK}
	a.mux.ServeHTTP(rec, r)
	if rec.code >= 300 {
		var eb apogee.ErrorBody
		if err := json.Unmarshal(rec.body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
			return fmt.Errorf("api: call %s %s: status %d", method, path, rec.code)
		}
		return &apogee.Error{Code: eb.Error.Code, Message: eb.Error.Message, Data: eb.Error.Data}
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return fmt.Errorf("api: call %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// recorder is the http.ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
