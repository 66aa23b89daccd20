package apogee

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// EnvVar is one environment variable of a project, given to its builds
// (and later its apps). In the store, Value is the sealed form of the
// value (see internal/secretbox): the store never holds plaintext. Secret
// values are never shown again once set: the API omits them and build
// logs mask them.
type EnvVar struct {
	Key       string
	Value     string
	Secret    bool
	UpdatedAt time.Time
}

// Limits on environment variables.
const (
	MaxEnvKeyLen   = 256
	MaxEnvValueLen = 64 << 10 // bytes of the plaintext value
	MaxEnvVars     = 500      // per project
)

// ReservedEnvPrefixes are the key prefixes the platform keeps for its own
// variables, compared without regard to case.
var ReservedEnvPrefixes = []string{"APOGEE_"}

// EnvStore keeps projects' environment variables, with values sealed by
// the caller. Safe for concurrent use; honours ctx.
type EnvStore interface {
	// SetEnv inserts v or replaces the project's variable of the same
	// key (value, secret flag, time; a zero UpdatedAt is now). ErrNotFound
	// if the project does not exist; ETOOLARGE if v.Key is new and the
	// project has MaxEnvVars variables already. Concurrent calls for one
	// project cannot together pass the limit.
	SetEnv(ctx context.Context, projectID string, v *EnvVar) error
	// ListEnv returns the project's variables by key (byte order); none
	// for an unknown project.
	ListEnv(ctx context.Context, projectID string) ([]*EnvVar, error)
	// DeleteEnv removes the project's variable key; ErrNotFound if it has
	// none of that key.
	DeleteEnv(ctx context.Context, projectID, key string) error
}

// ValidateEnvKey checks that key can name an environment variable: a
// letter or underscore, then letters, digits and underscores, at most
// MaxEnvKeyLen bytes, not starting with a reserved prefix.
func ValidateEnvKey(key string) error {
	if key == "" {
		return Errorf(EINVALID, "the variable name is empty; use letters, digits and underscores, as in DATABASE_URL")
	}
	if len(key) > MaxEnvKeyLen {
		return Errorf(EINVALID, "variable name %.40q… is %d characters long; the limit is %d", key, len(key), MaxEnvKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		letter := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_'
		if !letter && !(i > 0 && c >= '0' && c <= '9') {
			if i == 0 && c >= '0' && c <= '9' {
				return Errorf(EINVALID, "variable name %q starts with a digit; start it with a letter or underscore", key)
			}
			return Errorf(EINVALID, "variable name %q has %q; use only letters, digits and underscores", key, string(rune(c)))
		}
	}
	for _, p := range ReservedEnvPrefixes {
		if len(key) >= len(p) && strings.EqualFold(key[:len(p)], p) {
			return Errorf(EINVALID, "variable name %q starts with %s, which is reserved for the platform's own variables", key, p)
		}
	}
	return nil
}

// ValidateEnvValue checks a plaintext value: at most MaxEnvValueLen bytes
// (ETOOLARGE) and no NUL byte, which no process environment can hold.
// The error never quotes the value.
func ValidateEnvValue(key, value string) error {
	if len(value) > MaxEnvValueLen {
		return Errorf(ETOOLARGE, "the value of %s is %d bytes; the limit is %d", key, len(value), MaxEnvValueLen)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return Errorf(EINVALID, "the value of %s contains a NUL byte, which an environment variable cannot hold", key)
	}
	return nil
}

// MinSecretLen is the shortest value a secret variable may have: build
// and app logs mask secret values, and a shorter one could not be masked
// without also hiding ordinary words and numbers in every line.
const MinSecretLen = 8

// ValidateSecretValue refuses a secret value shorter than MinSecretLen,
// with a message that says what to do. It never quotes the value. An
// empty value (a placeholder) has nothing to hide and is allowed.
func ValidateSecretValue(key, value string) error {
	if n := utf8.RuneCountInString(value); n > 0 && n < MinSecretLen {
		return Errorf(EINVALID, "the secret value of %s has %d characters; a secret needs at least %d, or logs could not mask it without hiding ordinary text: use a longer value, or set %s without --secret if it is not secret",
			key, n, MinSecretLen, key)
	}
	return nil
}

// EnvVarView is an environment variable as the API shows it: Value is
// absent for a secret variable, whose value is never shown again.
type EnvVarView struct {
	Key       string    `json:"key"`
	Value     *string   `json:"value,omitempty"`
	Secret    bool      `json:"secret"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SetEnvRequest is the body of PUT /api/v1/projects/{name}/env/{key}.
type SetEnvRequest struct {
	Value *string `json:"value"` // required; "" is an empty value
	// Secret hides the value from every later answer and masks it in
	// build logs.
	Secret bool `json:"secret,omitempty"`
}
