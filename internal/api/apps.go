package api

import (
	"net/http"

	"github.com/apogee-dev/apogee"
)

// Apps: releases, instances, scale and restart.

func (a *API) appStatus(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Apps.AppStatus(r.Context(), r.PathValue("name"))
	return answer(w, http.StatusOK, v, err)
}

func (a *API) scaleApp(w http.ResponseWriter, r *http.Request) error {
	var req apogee.ScaleRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Apps.ScaleApp(r.Context(), r.PathValue("name"), req)
	return answer(w, http.StatusOK, v, err)
}

func (a *API) restartApp(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Apps.RestartApp(r.Context(), r.PathValue("name"))
	return answer(w, http.StatusOK, v, err)
}
