// Package nodejs chooses the Node.js a build runs with and keeps it on
// the server: the project's setting, package.json's engines.node, .nvmrc
// or .node-version, resolved against the npm registry's node-linux-<arch>
// packages (the official binaries, published by the Node.js project) to
// one version, fetched once into the data folder with npm itself (so
// npm's configuration names the registry), and mounted into the build's
// sandbox.
package nodejs

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/apogee-dev/apogee"
)

// Release is one version of Node.js in the registry.
type Release struct {
	Version   *semver.Version
	Published time.Time // zero when unknown
}

// Index is what the registry knows of Node.js: every release, newest
// first. It is safe for concurrent reads.
type Index struct {
	Releases []Release
}

// NewIndex builds an Index from version strings and their publish times
// (either may lack entries). Versions that are not semver, and
// prereleases, are left out.
func NewIndex(versions []string, published map[string]time.Time) Index {
	var ix Index
	for _, s := range versions {
		v, err := semver.StrictNewVersion(s)
		if err != nil || v.Prerelease() != "" || v.Metadata() != "" {
			continue
		}
		ix.Releases = append(ix.Releases, Release{Version: v, Published: published[s]})
	}
	sort.Slice(ix.Releases, func(i, j int) bool { return ix.Releases[i].Version.GreaterThan(ix.Releases[j].Version) })
	return ix
}

// ltsAfter is how long after a major's first release it becomes LTS:
// even majors come out in April and enter LTS in late October (22: 188
// days, 24: 175 days).
const ltsAfter = 170 * 24 * time.Hour

// LTS returns the newest release of the newest LTS line at now: the
// highest even major whose first release is at least ltsAfter old. An
// index without publish times takes the highest even major that has a
// newer major after it. nil when the index has none.
func (ix Index) LTS(now time.Time) *semver.Version {
	first := map[uint64]time.Time{}
	for _, r := range ix.Releases {
		m := r.Version.Major()
		if t, ok := first[m]; !ok || (!r.Published.IsZero() && (t.IsZero() || r.Published.Before(t))) {
			first[m] = r.Published
		}
	}
	var newest uint64
	if len(ix.Releases) > 0 {
		newest = ix.Releases[0].Version.Major()
	}
	for _, r := range ix.Releases { // newest first: the first match is the line's newest
		m := r.Version.Major()
		if m%2 != 0 {
			continue
		}
		t := first[m]
		if (!t.IsZero() && now.Sub(t) >= ltsAfter) || (t.IsZero() && m < newest) {
			return r.Version
		}
	}
	return nil
}

// Latest returns the newest release, nil when the index is empty.
func (ix Index) Latest() *semver.Version {
	if len(ix.Releases) == 0 {
		return nil
	}
	return ix.Releases[0].Version
}

// codenames are the LTS lines' names, as nvm's lts/<name> spells them.
var codenames = map[string]uint64{
	"argon": 4, "boron": 6, "carbon": 8, "dubnium": 10, "erbium": 12, "fermium": 14,
	"gallium": 16, "hydrogen": 18, "iron": 20, "jod": 22, "krypton": 24,
}

// Resolve turns what a project asks for (a version, a range as npm
// writes them, or nvm's aliases: node, latest, lts/*, lts/<codename>)
// into one release of the index: the newest release of the LTS line
// when it fits, else the newest release that fits. A request that is
// not a version or a range, or that no release fits, is an EINVALID
// error that says so.
func (ix Index) Resolve(want string, now time.Time) (*semver.Version, error) {
	w := strings.TrimSpace(want)
	switch lw := strings.ToLower(w); {
	case lw == "" || lw == "lts" || lw == "lts/*" || lw == "lts/-0":
		if v := ix.LTS(now); v != nil {
			return v, nil
		}
		return nil, apogee.Errorf(apogee.EINVALID, "no LTS release of Node.js is known")
	case lw == "node" || lw == "latest" || lw == "current" || lw == "stable":
		if v := ix.Latest(); v != nil {
			return v, nil
		}
		return nil, apogee.Errorf(apogee.EINVALID, "no release of Node.js is known")
	case strings.HasPrefix(lw, "lts/"):
		m, ok := codenames[strings.TrimPrefix(lw, "lts/")]
		if !ok {
			return nil, apogee.Errorf(apogee.EINVALID, "Node.js %q: unknown LTS name; write a version such as 22 or a range such as >=22", w)
		}
		w = fmt.Sprint(m)
	}
	c, err := Constraint(w)
	if err != nil {
		return nil, err
	}
	if lts := ix.LTS(now); lts != nil && c.Check(lts) {
		return lts, nil
	}
	for _, r := range ix.Releases {
		if c.Check(r.Version) {
			return r.Version, nil
		}
	}
	return nil, apogee.Errorf(apogee.EINVALID, "no release of Node.js satisfies %q; write a version such as 22 or a range such as >=20", want)
}

// Constraint parses a version or a range as npm writes them ("22",
// "v22.12.0", ">=20 <23", "^18 || ^20", "22.x", "20 - 22"). An error is
// EINVALID and says what to write.
func Constraint(s string) (*semver.Constraints, error) {
	w := strings.TrimSpace(s)
	// npm writes AND as a space: ">=20 <23"; semver wants a comma.
	w = andSpaces(w)
	c, err := semver.NewConstraint(w)
	if err != nil {
		return nil, apogee.Errorf(apogee.EINVALID, "Node.js version %q is not a version or a range: write one such as 22, 22.12.0 or >=20", s)
	}
	return c, nil
}

// andSpaces joins npm's space-separated comparators with commas, leaving
// the space inside an operator and its version (">= 20"), hyphen ranges
// ("20 - 22") and "||" alone.
func andSpaces(s string) string {
	fields := strings.Fields(s)
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			prev := fields[i-1]
			switch {
			case f == "||" || prev == "||" || f == "-" || prev == "-" || strings.HasSuffix(prev, ",") || strings.HasPrefix(f, ","):
				b.WriteByte(' ')
			case strings.TrimLeft(prev, "<>=~^!") == "": // a lone operator
				b.WriteByte(' ')
			default:
				b.WriteString(", ")
			}
		}
		b.WriteString(f)
	}
	return b.String()
}

// Check tells whether want is something Resolve understands (a version,
// a range or an nvm alias), without asking the registry. Its error is
// EINVALID and says what to write.
func Check(want string) error {
	w := strings.ToLower(strings.TrimSpace(want))
	switch {
	case w == "" || w == "lts" || w == "lts/*" || w == "lts/-0" || w == "node" || w == "latest" || w == "current" || w == "stable":
		return nil
	case strings.HasPrefix(w, "lts/"):
		if _, ok := codenames[strings.TrimPrefix(w, "lts/")]; !ok {
			return apogee.Errorf(apogee.EINVALID, "Node.js %q: unknown LTS name; write a version such as 22 or a range such as >=22", want)
		}
		return nil
	}
	if len(want) > 256 {
		return apogee.Errorf(apogee.EINVALID, "Node.js version is %d bytes long; write a version such as 22 or a range such as >=22", len(want))
	}
	_, err := Constraint(want)
	return err
}
