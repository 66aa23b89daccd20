package api

import (
	"net/http"

	"github.com/apogee-dev/apogee"
)

// DNS zones delegated to the platform and their records (issue 18).
// The platform checks the caller's role on the zone's owner (a person or
// a team) on every call.

func (a *API) listZones(w http.ResponseWriter, r *http.Request) error {
	zs, err := a.svc.DNS.Zones(r.Context(), r.URL.Query().Get("team"))
	return answer(w, http.StatusOK, map[string]any{"zones": zs}, err)
}

func (a *API) createZone(w http.ResponseWriter, r *http.Request) error {
	var req apogee.AddZoneRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.DNS.AddZone(r.Context(), req)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) getZone(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.DNS.Zone(r.Context(), r.PathValue("zone"))
	return answer(w, http.StatusOK, v, err)
}

func (a *API) verifyZone(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.DNS.VerifyZone(r.Context(), r.PathValue("zone"))
	return answer(w, http.StatusOK, v, err)
}

func (a *API) deleteZone(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.DNS.RemoveZone(r.Context(), r.PathValue("zone")))
}

func (a *API) listRecords(w http.ResponseWriter, r *http.Request) error {
	rs, err := a.svc.DNS.Records(r.Context(), r.PathValue("zone"))
	return answer(w, http.StatusOK, map[string]any{"records": rs}, err)
}

func (a *API) createRecord(w http.ResponseWriter, r *http.Request) error {
	var req apogee.AddRecordRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	rec, err := a.svc.DNS.AddRecord(r.Context(), r.PathValue("zone"), req)
	return answer(w, http.StatusCreated, rec, err)
}

func (a *API) updateRecord(w http.ResponseWriter, r *http.Request) error {
	var req apogee.UpdateRecordRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	rec, err := a.svc.DNS.UpdateRecord(r.Context(), r.PathValue("zone"), r.PathValue("id"), req)
	return answer(w, http.StatusOK, rec, err)
}

func (a *API) deleteRecord(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.DNS.RemoveRecord(r.Context(), r.PathValue("zone"), r.PathValue("id")))
}
