package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/framework"
)

// updateProject changes a project's settings by a JSON merge patch (RFC
// 7396) of its "settings": a key sets a value, null resets it (or a whole
// section) to the default, and keys left out stay as they are. Serve
// settings apply from the project's next deployment on: deployments never
// change.
//
//	PATCH /api/v1/projects/web
//	{"settings": {"serve": {"spa": true, "trailing_slash": null}}}
func (a *API) updateProject(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	var req struct {
		Settings map[string]json.RawMessage `json:"settings"`
	}
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if req.Settings == nil {
		return apogee.Errorf(apogee.EINVALID, "send {\"settings\": {\"serve\": {…}}} with the settings to change")
	}
	for section, raw := range req.Settings {
		switch section {
		case "serve":
			p.Settings.Serve, err = mergePatch(p.Settings.Serve, raw, "settings.serve")
		case "build":
			p.Settings.Build, err = mergePatch(p.Settings.Build, raw, "settings.build")
			if err == nil {
				err = validateBuildSettings(p.Settings.Build)
			}
		default:
			err = apogee.Errorf(apogee.EINVALID, "settings has no section %q; the sections are \"serve\" and \"build\"", section)
		}
		if err != nil {
			return err
		}
	}
	if err := a.store.UpdateProject(r.Context(), p); err != nil {
		return fmt.Errorf("api: update project %q: %w", p.Name, err)
	}
	a.log.Info("project settings updated", "project", p.Name, "user", u.ID)
	writeJSON(w, http.StatusOK, a.projectView(p))
	return nil
}

// mergePatch applies the JSON merge patch raw to cur, a settings struct
// of flat fields, and returns the result. where names the object in
// error messages.
func mergePatch[T any](cur T, raw json.RawMessage, where string) (T, error) {
	var zero T
	var patch any
	if err := json.Unmarshal(raw, &patch); err != nil {
		return cur, apogee.Errorf(apogee.EINVALID, "%s is not valid JSON", where)
	}
	if patch == nil {
		return zero, nil // null resets the section
	}
	obj, ok := patch.(map[string]any)
	if !ok {
		return cur, apogee.Errorf(apogee.EINVALID, "%s must be an object", where)
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return cur, fmt.Errorf("api: %s: %w", where, err)
	}
	doc := map[string]any{}
	if err := json.Unmarshal(b, &doc); err != nil {
		return cur, fmt.Errorf("api: %s: %w", where, err)
	}
	for k, v := range obj {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	b, err = json.Marshal(doc)
	if err != nil {
		return cur, fmt.Errorf("api: %s: %w", where, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var out T
	if err := dec.Decode(&out); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return cur, apogee.Errorf(apogee.EINVALID, "%s.%s must be a %s, not a JSON %s", where, typeErr.Field, typeErr.Type.Kind(), typeErr.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return cur, apogee.Errorf(apogee.EINVALID, "%s has no field %s", where, strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return cur, apogee.Errorf(apogee.EINVALID, "%s: %v", where, err)
	}
	return out, nil
}

// validateBuildSettings checks the build overrides: directories are
// relative paths inside the repository, commands are one line of
// reasonable length.
func validateBuildSettings(b apogee.BuildSettings) error {
	for name, dir := range map[string]*string{"output_dir": b.OutputDir, "root_dir": b.RootDir} {
		if dir == nil || *dir == "" || *dir == "." {
			continue
		}
		if _, err := apogee.CleanPath(strings.TrimSuffix(*dir, "/")); err != nil {
			return apogee.Errorf(apogee.EINVALID, "settings.build.%s %q must be a relative path inside the repository", name, *dir)
		}
	}
	for name, cmd := range map[string]*string{"install_command": b.InstallCommand, "build_command": b.BuildCommand} {
		if cmd != nil && (len(*cmd) > 4096 || strings.ContainsAny(*cmd, "\x00\n\r")) {
			return apogee.Errorf(apogee.EINVALID, "settings.build.%s must be one line of at most 4096 bytes", name)
		}
	}
	if f := b.Framework; f != nil {
		if _, ok := framework.Lookup(*f); !ok {
			ids := make([]string, 0, 16)
			for _, p := range framework.Presets() {
				ids = append(ids, p.Framework)
			}
			return apogee.Errorf(apogee.EINVALID, "settings.build.framework %q is not a preset; use one of %s, or null to detect", *f, strings.Join(ids, ", "))
		}
	}
	return nil
}
