package apogee

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. They are part of the API: the HTTP layer maps each to a
// status, the CLI to its wording, and clients may switch on them.
const (
	EINVALID      = "invalid"       // the request is malformed or a value is out of range
	ENOTFOUND     = "not_found"     // the record does not exist or the caller may not see it
	ECONFLICT     = "conflict"      // the record exists already or is in the wrong state
	EUNAUTHORIZED = "unauthorized"  // no or bad credentials
	EFORBIDDEN    = "forbidden"     // authenticated, but not allowed
	ETOOLARGE     = "too_large"     // a body or file over its limit
	EMISSING      = "missing_files" // finalize while blobs are still missing
	ETOOMANY      = "too_many"      // too many attempts (sign-in): wait RetryAfter and try again
	ESTORAGEFULL  = "storage_full"  // the server's storage is full: nothing was stored
	EUNAVAILABLE  = "unavailable"   // the server cannot do this now (storage not writable): try later
	EINTERNAL     = "internal"      // a bug or a backend fault; details are logged, never shown
)

// Error is the one error type that crosses package boundaries with a
// meaning. Message is safe to show to the caller; internal causes are
// wrapped as Err and never shown.
type Error struct {
	Code    string
	Message string
	// Data carries structured details for the caller, such as the hashes a
	// finalize still misses. It is marshalled into the JSON error body.
	Data any
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL for any other non-nil error, or "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err: the message of the
// first *Error in its chain, or a generic one for internal errors.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error; the server log has the details"
}

// ErrNotFound is returned by stores when a record does not exist. Callers
// match it with errors.Is; it carries ENOTFOUND.
var ErrNotFound = &Error{Code: ENOTFOUND, Message: "not found"}

// Is lets errors.Is(err, ErrNotFound) match any ENOTFOUND error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t == ErrNotFound && e.Code == ENOTFOUND
}

// Retry is the Data of an ETOOMANY error: how long to wait before the
// next attempt may succeed (the HTTP layer sends it as Retry-After).
type Retry struct {
	AfterSeconds int `json:"retry_after_seconds"`
}

// TooMany returns an ETOOMANY error that asks to wait at least after
// (rounded up to whole seconds, at least 1).
func TooMany(after time.Duration, format string, args ...any) *Error {
	secs := int((after + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	e := Errorf(ETOOMANY, format, args...)
	e.Data = Retry{AfterSeconds: secs}
	return e
}

// RetryAfter returns the wait an ETOOMANY error in err's chain asks for,
// or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		if r, ok := e.Data.(Retry); ok {
			return time.Duration(r.AfterSeconds) * time.Second
		}
	}
	return 0
}
