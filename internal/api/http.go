package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// StatusOf maps an error code to its HTTP status. This is the only place
// that knows the mapping; the dashboard's pages and git push use it too.
func StatusOf(code string) int {
	switch code {
	case apogee.EINVALID:
		return http.StatusBadRequest
	case apogee.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case apogee.EFORBIDDEN:
		return http.StatusForbidden
	case apogee.ENOTFOUND:
		return http.StatusNotFound
	case apogee.ECONFLICT, apogee.EMISSING:
		return http.StatusConflict
	case apogee.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case apogee.EQUOTA:
		return http.StatusPaymentRequired
	case apogee.ETOOMANY:
		return http.StatusTooManyRequests
	case apogee.ESTORAGEFULL:
		return http.StatusInsufficientStorage
	case apogee.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// wrap turns a handler that returns an error into an http.Handler that
// writes the error as JSON. Only internal errors are logged.
func (a *API) wrap(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := apogee.ErrorCode(err)
	var body apogee.ErrorBody
	body.Error.Code = code
	body.Error.Message = apogee.ErrorMessage(err)
	var e *apogee.Error
	if errors.As(err, &e) {
		body.Error.Data = e.Data
	}
	switch code {
	case apogee.EINTERNAL:
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case apogee.ESTORAGEFULL, apogee.EUNAVAILABLE: // the caller is told what; the admin needs why
		a.log.Error("storage failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == apogee.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="apogee"`)
	}
	SetRetryAfter(w, err)
	writeJSON(w, StatusOf(code), body)
}

// SetRetryAfter sets the Retry-After header of an ETOOMANY error's
// answer (the dashboard and git push use it too).
func SetRetryAfter(w http.ResponseWriter, err error) {
	if d := apogee.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d/time.Second)))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Body limits for JSON requests.
const (
	maxJSONBody     = 1 << 20
	maxManifestBody = 64 << 20
)

// decode reads one JSON value of at most max bytes into v and refuses
// unknown fields, trailing data and wrong types with a message that says
// what was wrong.
func decode(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, max)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return apogee.Errorf(apogee.ETOOLARGE, "request body is larger than %d bytes", max)
		case errors.Is(err, io.EOF):
			return apogee.Errorf(apogee.EINVALID, "request body is empty; send a JSON object")
		case errors.As(err, &syntax):
			return apogee.Errorf(apogee.EINVALID, "request body is not valid JSON (at byte %d)", syntax.Offset)
		case errors.As(err, &typeErr):
			return apogee.Errorf(apogee.EINVALID, "field %q must be a %s", typeErr.Field, typeErr.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			// encoding/json has no typed error for unknown fields.
			return apogee.Errorf(apogee.EINVALID, "request body has an %s", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return apogee.Errorf(apogee.EINVALID, "request body cannot be read: %v", err)
		}
	}
	if dec.More() {
		return apogee.Errorf(apogee.EINVALID, "request body has data after the JSON object")
	}
	return nil
}

// authenticate checks the Bearer token and serves h as its user, whom
// the services read from the request's context. No or a bad token gets
// 401; the message does not say which check failed.
func (a *API) authenticate(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		secret, ok := bearer(r)
		if !ok {
			return apogee.Errorf(apogee.EUNAUTHORIZED, "this route needs an API token: send \"Authorization: Bearer <token>\"")
		}
		u, err := a.svc.Accounts.Authenticate(r.Context(), secret)
		if err != nil {
			return err
		}
		ctx := apogee.NewContextWithClient(apogee.NewContextWithUser(r.Context(), u), r.RemoteAddr)
		return h(w, r.WithContext(ctx))
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}
