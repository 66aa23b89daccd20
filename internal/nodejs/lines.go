package nodejs

import (
	"context"
	"fmt"
	"time"
)

// Line is one major release line of Node.js, as a project's settings
// offer it (Vercel's "22.x").
type Line struct {
	Major  uint64
	Newest string // its newest release, e.g. "22.12.0"
	LTS    bool   // the line builds use when nothing asks for another
	Kept   bool   // a release of it is kept on the server
}

// linesBelowLTS is how many majors under the LTS's a project may still
// choose: the two older lines Node.js maintains.
const linesBelowLTS = 4

// Lines returns the lines a project may choose at now, newest first:
// the newest major when it is newer than the LTS (Node.js's "Current"),
// the LTS, and the even majors below it that Node.js still maintains.
func (ix Index) Lines(now time.Time) []Line {
	lts := ix.LTS(now)
	var out []Line
	for _, r := range ix.Releases { // newest first: a line's first is its newest
		m := r.Version.Major()
		if len(out) > 0 && out[len(out)-1].Major == m {
			continue
		}
		switch {
		case lts == nil && len(out) > 0:
			continue // no LTS known: the newest line only
		case lts != nil && m > lts.Major() && len(out) > 0:
			continue // only the newest of the lines above the LTS
		case lts != nil && m < lts.Major() && (m%2 != 0 || m+linesBelowLTS < lts.Major()):
			continue
		}
		out = append(out, Line{Major: m, Newest: r.Version.String(), LTS: lts != nil && m == lts.Major()})
	}
	return out
}

// Lines returns the lines a project may choose (Index.Lines), marking
// those with a release kept on the server; with the registry out of
// reach, the lines of the releases kept. It fetches the registry's
// list at most once per IndexTTL, as builds do.
func (d *Dist) Lines(ctx context.Context) ([]Line, error) {
	kept := d.Installed()
	ix, _, err := d.Index(ctx)
	if err != nil {
		if len(kept.Releases) == 0 {
			return nil, fmt.Errorf("nodejs: no list of versions and none kept: %w", err)
		}
		ix = kept
	}
	lines := ix.Lines(time.Now())
	for i := range lines {
		for _, r := range kept.Releases {
			if r.Version.Major() == lines[i].Major {
				lines[i].Kept = true
			}
		}
	}
	return lines, nil
}
