package platform

import (
	"context"
	"fmt"

	"github.com/apogee-dev/apogee"
)

// env implements apogee.EnvService. Values are sealed by internal/envvars
// before the store sees them; no log line carries a value.
type env struct{ *Platform }

var _ apogee.EnvService = env{}

func (pl env) Env(ctx context.Context, project string) ([]apogee.EnvVarView, error) {
	_, p, role, err := pl.projectAs(ctx, project, needRead)
	if err != nil {
		return nil, err
	}
	vs, err := pl.env.List(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: list env of %q: %w", p.Name, err)
	}
	if !needSecrets.allows(role) { // a viewer sees names, no values
		for i := range vs {
			vs[i].Value = nil
		}
	}
	return vs, nil
}

func (pl env) SetEnv(ctx context.Context, project, key, value string, secret bool) (*apogee.EnvVarView, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	v, err := pl.env.Set(ctx, p.ID, key, value, secret)
	if err != nil {
		return nil, fmt.Errorf("platform: set env %s of %q: %w", key, p.Name, err)
	}
	pl.log.Info("env var set", "project", p.Name, "key", key, "secret", secret, "user", u.ID)
	pl.recordProject(ctx, u, p, "env.set", key, map[bool]string{true: "secret"}[secret])
	if err := pl.envReleased(ctx, u, p, "set "+key); err != nil {
		return nil, err
	}
	return v, nil
}

func (pl env) DeleteEnv(ctx context.Context, project, key string) error {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return err
	}
	if err := apogee.ValidateEnvKey(key); err != nil {
		return err
	}
	if err := pl.env.Delete(ctx, p.ID, key); err != nil {
		if apogee.ErrorCode(err) == apogee.ENOTFOUND {
			return apogee.Errorf(apogee.ENOTFOUND, "project %s has no environment variable %s", p.Name, key)
		}
		return fmt.Errorf("platform: delete env %s of %q: %w", key, p.Name, err)
	}
	pl.log.Info("env var removed", "project", p.Name, "key", key, "user", u.ID)
	pl.recordProject(ctx, u, p, "env.delete", key, "")
	return pl.envReleased(ctx, u, p, "removed "+key)
}

// envReleased rolls an app's change of variables out: a new release with
// them. The variable stays changed when the release fails; the error
// says so, and the release that served keeps serving.
func (pl *Platform) envReleased(ctx context.Context, u *apogee.User, p *apogee.Project, what string) error {
	if _, err := pl.rerelease(ctx, u, p, what); err != nil {
		return &apogee.Error{
			Code:    apogee.ErrorCode(err),
			Message: fmt.Sprintf("the variables are saved, but the app's new release (%s) failed and the previous release keeps serving: %s", what, apogee.ErrorMessage(err)),
			Err:     err,
		}
	}
	return nil
}
