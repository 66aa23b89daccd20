// Package envvars keeps projects' environment variables encrypted at
// rest: it validates keys and values, seals every value (secret or not)
// before the store sees it, opens them for the API and the builder, and
// never shows a secret value again. The store (apogee.EnvStore) holds only
// sealed text.
//
// The builder calls Resolve to get a build's environment and the values
// its log must mask.
package envvars

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
)

// Service is the environment variables of every project. It is safe for
// concurrent use.
type Service struct {
	store apogee.EnvStore
	box   apogee.Sealer
	now   func() time.Time
}

// New returns the service over store, sealing with box. now is the clock
// of UpdatedAt (nil: time.Now).
func New(store apogee.EnvStore, box apogee.Sealer, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, box: box, now: now}
}

// Set validates key and value, seals the value and stores it as the
// project's variable key, replacing any. It returns the variable as the
// API shows it (no value if secret). Errors: EINVALID for a bad key or
// value, ETOOLARGE for a value over apogee.MaxEnvValueLen or a project
// with apogee.MaxEnvVars variables, ErrNotFound for no such project.
func (s *Service) Set(ctx context.Context, projectID, key, value string, secret bool) (*apogee.EnvVarView, error) {
	if err := apogee.ValidateEnvKey(key); err != nil {
		return nil, err
	}
	if err := apogee.ValidateEnvValue(key, value); err != nil {
		return nil, err
	}
	if secret {
		if err := apogee.ValidateSecretValue(key, value); err != nil {
			return nil, err
		}
	}
	v := &apogee.EnvVar{
		Key:       key,
		Value:     s.box.Seal(value, apogee.EnvPurpose(projectID, key)),
		Secret:    secret,
		UpdatedAt: s.now().UTC(),
	}
	if err := s.store.SetEnv(ctx, projectID, v); err != nil {
		return nil, fmt.Errorf("envvars: set %s: %w", key, err)
	}
	view := &apogee.EnvVarView{Key: key, Secret: secret, UpdatedAt: v.UpdatedAt}
	if !secret {
		view.Value = &value
	}
	return view, nil
}

// List returns the project's variables by key as the API shows them:
// values of non-secret variables opened, secret ones left out (and not
// even decrypted). A value that does not open fails the whole list with
// an EINTERNAL error naming the key, never the value.
func (s *Service) List(ctx context.Context, projectID string) ([]apogee.EnvVarView, error) {
	vs, err := s.store.ListEnv(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("envvars: list: %w", err)
	}
	out := make([]apogee.EnvVarView, 0, len(vs))
	for _, v := range vs {
		view := apogee.EnvVarView{Key: v.Key, Secret: v.Secret, UpdatedAt: v.UpdatedAt}
		if !v.Secret {
			value, err := s.open(projectID, v)
			if err != nil {
				return nil, err
			}
			view.Value = &value
		}
		out = append(out, view)
	}
	return out, nil
}

// Delete removes the project's variable key; ErrNotFound (naming the
// key) if there is none.
func (s *Service) Delete(ctx context.Context, projectID, key string) error {
	if err := s.store.DeleteEnv(ctx, projectID, key); err != nil {
		return fmt.Errorf("envvars: delete %s: %w", key, err)
	}
	return nil
}

// Resolve returns the environment of a build of the project: vars as
// "KEY=VALUE" in key order, ready for sandbox.Spec.Env, and secrets, the
// values of the variables marked secret, for the log writer to mask
// (logs.Options.Secrets). A value that does not open (the server runs
// with another secret key than the one that sealed it) fails with an
// EINTERNAL error whose message names the key and says to check the
// secret key; the build should fail with that message as its reason.
// Neither the vars nor the secrets may be logged.
func (s *Service) Resolve(ctx context.Context, projectID string) (vars, secrets []string, err error) {
	vs, err := s.store.ListEnv(ctx, projectID)
	if err != nil {
		return nil, nil, fmt.Errorf("envvars: resolve: %w", err)
	}
	vars = make([]string, 0, len(vs))
	for _, v := range vs {
		value, err := s.open(projectID, v)
		if err != nil {
			return nil, nil, err
		}
		vars = append(vars, v.Key+"="+value)
		if v.Secret && value != "" {
			secrets = append(secrets, value)
		}
	}
	return vars, secrets, nil
}

// GitTokenKey is the project variable whose value, if set, authenticates
// the clone of the project's repository over HTTPS (a GitHub or GitLab
// token that can read it). Mark it secret: the log masks it like any
// secret, and the source fetcher keeps it out of git's argv and config.
const GitTokenKey = "GIT_TOKEN"

// GitToken returns the project's GIT_TOKEN variable, or "" when unset.
func (s *Service) GitToken(ctx context.Context, p *apogee.Project) (string, error) {
	vs, err := s.store.ListEnv(ctx, p.ID)
	if err != nil {
		return "", fmt.Errorf("envvars: git token: %w", err)
	}
	for _, v := range vs {
		if v.Key == GitTokenKey {
			return s.open(p.ID, v)
		}
	}
	return "", nil
}

// open decrypts v's value, or fails with an error that names v's key.
func (s *Service) open(projectID string, v *apogee.EnvVar) (string, error) {
	value, err := s.box.Open(v.Value, apogee.EnvPurpose(projectID, v.Key))
	if err == nil {
		return value, nil
	}
	msg := "environment variable " + v.Key + " cannot be decrypted"
	var ae *apogee.Error
	if errors.As(err, &ae) {
		msg = "environment variable " + v.Key + ": " + ae.Message
	}
	return "", &apogee.Error{Code: apogee.EINTERNAL, Message: msg, Err: err}
}
