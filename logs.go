package apogee

import (
	"context"
	"time"
)

// Log streams. A build's own processes write stdout and stderr; the
// platform writes system lines (steps, exit codes, reasons).
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	StreamSystem = "system"
)

// LogLine is one line of a build or runtime log. Seq numbers the lines of
// one log from 1 without gaps, so a follower that reconnects asks for the
// lines after the last Seq it saw.
type LogLine struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
	// Instance names the app instance that wrote a runtime log line; ""
	// in build logs.
	Instance string `json:"instance,omitempty"`
}

// LogStore keeps log lines by the deployment they belong to.
type LogStore interface {
	// AppendLogs stores lines, which carry increasing Seq. A line whose
	// Seq is stored already is skipped, so a retried append is harmless.
	AppendLogs(ctx context.Context, deploymentID string, lines []LogLine) error
	// Logs returns up to limit lines with Seq > afterSeq, in order
	// (limit <= 0: all).
	Logs(ctx context.Context, deploymentID string, afterSeq int64, limit int) ([]LogLine, error)
}
