package github

import (
	"context"
	"strconv"
	"time"
)

// Check run statuses and conclusions, as GitHub names them.
const (
	CheckQueued     = "queued"
	CheckInProgress = "in_progress"
	CheckCompleted  = "completed"

	ConclusionSuccess   = "success"
	ConclusionFailure   = "failure"
	ConclusionCancelled = "cancelled"
	ConclusionSkipped   = "skipped"
)

// CheckRun is the state of a check run: its status (CheckQueued,
// CheckInProgress, CheckCompleted), its conclusion once completed, the
// page it links to (the deployment, or its build log) and the title and
// summary of its output.
type CheckRun struct {
	Name       string
	ExternalID string // the deployment's id
	Status     string
	Conclusion string
	DetailsURL string
	Title      string
	Summary    string
	At         time.Time // when it started (in progress) or completed
}

// body is the JSON of a check run, as POST and PATCH
// /repos/{owner}/{repo}/check-runs take it.
func (cr CheckRun) body(sha string) map[string]any {
	in := map[string]any{"name": cr.Name, "status": cr.Status, "details_url": cr.DetailsURL, "external_id": cr.ExternalID,
		"output": map[string]string{"title": cr.Title, "summary": cr.Summary}}
	if sha != "" {
		in["head_sha"] = sha
	}
	at := cr.At.UTC().Format(time.RFC3339)
	switch cr.Status {
	case CheckInProgress:
		in["started_at"] = at
	case CheckCompleted:
		in["conclusion"], in["completed_at"] = cr.Conclusion, at
	}
	return in
}

// createCheckRun creates a check run on commit sha (only a GitHub App's
// installation may) and returns its id.
func (t *target) createCheckRun(ctx context.Context, sha string, cr CheckRun) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	if err := t.c.call(ctx, t.hc, "POST", t.path+"/check-runs", cr.body(sha), &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// updateCheckRun brings check run id to cr.
func (t *target) updateCheckRun(ctx context.Context, id int64, cr CheckRun) error {
	return t.c.call(ctx, t.hc, "PATCH", t.path+"/check-runs/"+strconv.FormatInt(id, 10), cr.body(""), nil)
}
