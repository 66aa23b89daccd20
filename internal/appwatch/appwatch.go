// Package appwatch is what hears a runtime's app instances (it is their
// apps.Observer): every line they write goes to the project's runtime log
// (runtimelog.Writer). It sits apart from package runtimelog so that the
// platform, which reads runtime logs, never depends on package apps.
package appwatch

import (
	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

// Lines is where instance output goes: a runtimelog.Writer.
type Lines interface {
	Add(project string, l apogee.LogLine)
}

// Watcher is the apps.Observer of a runtime.
type Watcher struct {
	lines Lines
}

var _ apps.Observer = (*Watcher)(nil)

// New returns a watcher that writes instance output to lines.
func New(lines Lines) *Watcher { return &Watcher{lines: lines} }

// InstanceOutput queues the line in its project's runtime log.
func (w *Watcher) InstanceOutput(l apps.Line) { w.lines.Add(l.Project, l.LogLine) }

// InstanceChanged hears an instance's new state.
func (w *Watcher) InstanceChanged(apps.Status) {}
