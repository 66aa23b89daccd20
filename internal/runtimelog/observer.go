package runtimelog

import (
	"github.com/apogee-dev/apogee/internal/apps"
)

// Observer is the apps.Observer a runtime reports to: every line of
// output goes to the Writer.
type Observer struct {
	Writer *Writer
}

var _ apps.Observer = Observer{}

// InstanceOutput queues the line in its project's runtime log.
func (o Observer) InstanceOutput(l apps.Line) { o.Writer.Add(l.Project, l.LogLine) }

// InstanceChanged hears an instance's new state.
func (o Observer) InstanceChanged(apps.Status) {}
