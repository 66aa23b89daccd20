package githubtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CheckRun is a check run the fake holds, as its latest request left it;
// Updates counts the PATCHes.
type CheckRun struct {
	ID          int64
	HeadSHA     string
	Name        string
	ExternalID  string
	Status      string
	Conclusion  string
	DetailsURL  string
	Title       string
	Summary     string
	StartedAt   string
	CompletedAt string
	Updates     int
	App         string // the slug of the app that made it
}

// CheckRuns returns the check runs of repository fullName, in order of
// creation.
func (s *Server) CheckRuns(fullName string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CheckRun(nil), s.checkRuns[fullName]...)
}

// checkRunIn is the body of POST and PATCH …/check-runs as GitHub takes
// it (absent fields are nil).
type checkRunIn struct {
	Name        *string `json:"name"`
	HeadSHA     *string `json:"head_sha"`
	DetailsURL  *string `json:"details_url"`
	ExternalID  *string `json:"external_id"`
	Status      *string `json:"status"`
	Conclusion  *string `json:"conclusion"`
	StartedAt   *string `json:"started_at"`
	CompletedAt *string `json:"completed_at"`
	Output      *struct {
		Title   *string `json:"title"`
		Summary *string `json:"summary"`
	} `json:"output"`
}

var (
	checkStatuses    = []string{"queued", "in_progress", "completed"}
	checkConclusions = []string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"}
)

// apply checks in as GitHub does and applies it to cr: a status among
// queued, in_progress, completed; a conclusion among GitHub's, which
// completes the run and which completed requires; ISO 8601 times; an
// output needs a title and a summary. It returns the validation error's
// message, "" when valid.
func (in *checkRunIn) apply(cr *CheckRun) string {
	if in.Name != nil {
		cr.Name = *in.Name
	}
	if in.DetailsURL != nil {
		cr.DetailsURL = *in.DetailsURL
	}
	if in.ExternalID != nil {
		cr.ExternalID = *in.ExternalID
	}
	if in.Status != nil {
		if !slices.Contains(checkStatuses, *in.Status) {
			return "Validation Failed: status is not included in the list"
		}
		cr.Status = *in.Status
	}
	for _, t := range []*string{in.StartedAt, in.CompletedAt} {
		if t != nil {
			if _, err := time.Parse(time.RFC3339, *t); err != nil {
				return "Invalid request.\n\n" + strconv.Quote(*t) + " is not a valid date-time."
			}
		}
	}
	if in.StartedAt != nil {
		cr.StartedAt = *in.StartedAt
	}
	if in.Conclusion != nil {
		if !slices.Contains(checkConclusions, *in.Conclusion) {
			return "Validation Failed: conclusion is not included in the list"
		}
		cr.Conclusion, cr.Status = *in.Conclusion, "completed"
	}
	if in.CompletedAt != nil {
		cr.CompletedAt = *in.CompletedAt
	}
	if cr.Status == "completed" && cr.Conclusion == "" {
		return "Invalid request.\n\nNo subschema in \"anyOf\" matched.\n\"conclusion\" wasn't supplied."
	}
	if cr.Status != "completed" && (in.Conclusion != nil || in.CompletedAt != nil) {
		return "Validation Failed: a check run that is not completed has no conclusion"
	}
	if o := in.Output; o != nil {
		if o.Title == nil || o.Summary == nil || *o.Summary == "" {
			return "Invalid request.\n\n\"summary\" wasn't supplied."
		}
		cr.Title, cr.Summary = *o.Title, *o.Summary
	}
	return ""
}

// appCall is repoCall for the endpoints only a GitHub App may call: an
// OAuth token gets GitHub's 403 "You must authenticate via a GitHub
// App.". It returns the repository's full name and the app's slug with
// s.mu held, or "" having answered.
func (s *Server) appCall(w http.ResponseWriter, r *http.Request) (string, string) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, _ = strings.CutPrefix(auth, "token ")
	}
	s.mu.Lock()
	t := s.access[tok]
	user := t != nil && (t.installation == 0 || s.app == nil)
	s.mu.Unlock()
	if user {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]string{"message": "You must authenticate via a GitHub App.",
			"documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run"})
		return "", ""
	}
	full := s.repoCall(w, r) // a bad token: 401; a repository not granted: 404
	if full == "" {
		return "", ""
	}
	return full, s.app.slug
}

func (s *Server) checkRunJSON(full string, cr CheckRun) map[string]any {
	id := strconv.FormatInt(cr.ID, 10)
	null := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	return map[string]any{"id": cr.ID, "node_id": "CR_" + id, "head_sha": cr.HeadSHA, "external_id": cr.ExternalID,
		"url":      s.APIURL() + "/repos/" + full + "/check-runs/" + id,
		"html_url": s.URL + "/" + full + "/runs/" + id, "details_url": cr.DetailsURL,
		"status": cr.Status, "conclusion": null(cr.Conclusion), "started_at": null(cr.StartedAt), "completed_at": null(cr.CompletedAt),
		"output": map[string]any{"title": null(cr.Title), "summary": null(cr.Summary), "text": nil, "annotations_count": 0,
			"annotations_url": s.APIURL() + "/repos/" + full + "/check-runs/" + id + "/annotations"},
		"name": cr.Name, "check_suite": map[string]any{"id": 5000 + cr.ID},
		"app": map[string]any{"id": s.app.id, "slug": cr.App, "name": cr.App}, "pull_requests": []any{}}
}

// createCheckRun is POST /repos/{owner}/{repo}/check-runs.
func (s *Server) createCheckRun(w http.ResponseWriter, r *http.Request) {
	full, slug := s.appCall(w, r)
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	var in checkRunIn
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return
	}
	if in.Name == nil || *in.Name == "" || in.HeadSHA == nil || *in.HeadSHA == "" {
		invalid(w, "Invalid request.\n\n\"name\" and \"head_sha\" are required.")
		return
	}
	cr := CheckRun{HeadSHA: *in.HeadSHA, Status: "queued", App: slug}
	if msg := in.apply(&cr); msg != "" {
		invalid(w, msg)
		return
	}
	s.nextID++
	cr.ID = s.nextID
	s.checkRuns[full] = append(s.checkRuns[full], cr)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(s.checkRunJSON(full, cr))
}

// updateCheckRun is PATCH /repos/{owner}/{repo}/check-runs/{id}: only
// the app that made a check run may change it.
func (s *Server) updateCheckRun(w http.ResponseWriter, r *http.Request) {
	full, slug := s.appCall(w, r)
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	var in checkRunIn
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return
	}
	for i, cr := range s.checkRuns[full] {
		if strconv.FormatInt(cr.ID, 10) != r.PathValue("id") || cr.App != slug {
			continue
		}
		if msg := in.apply(&cr); msg != "" {
			invalid(w, msg)
			return
		}
		cr.Updates++
		s.checkRuns[full][i] = cr
		json.NewEncoder(w).Encode(s.checkRunJSON(full, cr))
		return
	}
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/checks/runs#update-a-check-run"})
}
