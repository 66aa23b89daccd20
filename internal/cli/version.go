package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
)

// Version, Commit and Date describe the build. A release sets them with
//
//	go build -ldflags "-X github.com/apogee-dev/apogee/internal/cli.Version=v1.2.0
//	  -X github.com/apogee-dev/apogee/internal/cli.Commit=$(git rev-parse HEAD)
//	  -X github.com/apogee-dev/apogee/internal/cli.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// Left empty, they come from what the Go toolchain recorded in the binary
// (debug.ReadBuildInfo: the module version and, for a build in a Git
// checkout, the commit, its time and whether the tree had changes).
var Version, Commit, Date string

// BuildInfo is what `apogee version` prints.
type BuildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Date     string `json:"date,omitempty"` // RFC 3339: the commit's time, or the build's when set by ldflags
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// buildInfo returns the build's description: ldflags first, then what the
// toolchain recorded.
func buildInfo() BuildInfo {
	bi := BuildInfo{Version: Version, Commit: Commit, Date: Date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		bi = fromBuildInfo(bi, info)
	}
	if bi.Version == "" {
		bi.Version = "dev"
	}
	return bi
}

// fromBuildInfo fills what bi lacks from info.
func fromBuildInfo(bi BuildInfo, info *debug.BuildInfo) BuildInfo {
	if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		bi.Version = info.Main.Version
	}
	if bi.Go == "" {
		bi.Go = info.GoVersion
	}
	fromVCS := bi.Commit == ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if fromVCS {
				bi.Commit = s.Value
			}
		case "vcs.time":
			if fromVCS && bi.Date == "" {
				bi.Date = s.Value
			}
		case "vcs.modified":
			if fromVCS {
				bi.Modified = s.Value == "true"
			}
		}
	}
	return bi
}

// String is the one line of `apogee --version`:
// "apogee dev (commit 1a2b3c4d5e6f, 2026-12-04T18:55:00Z, modified) go1.26 linux/amd64".
func (bi BuildInfo) String() string {
	s := "apogee " + bi.Version
	commit := bi.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	var details []string
	if commit != "" {
		details = append(details, "commit "+commit)
	}
	if bi.Date != "" {
		d := bi.Date
		if t, err := time.Parse(time.RFC3339, d); err == nil {
			d = t.UTC().Format(time.RFC3339)
		}
		details = append(details, d)
	}
	if bi.Modified {
		details = append(details, "modified")
	}
	if len(details) > 0 {
		s += " ("
		for i, d := range details {
			if i > 0 {
				s += ", "
			}
			s += d
		}
		s += ")"
	}
	return s + " " + bi.Go + " " + bi.Platform
}

// setVersion gives root --version (and -v) and adds `apogee version`.
func setVersion(a *app, root *cobra.Command) {
	root.Version = buildInfo().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print Apogee's version, commit and build date",
		Long: `Version prints the version of this apogee binary, the Git commit it was built
from and that commit's date (or the build date a release sets), the Go
version and the platform. "apogee --version" prints the same line.`,
		Example: "  apogee version\n  apogee version --json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi := buildInfo()
			o := a.output(cmd)
			if a.json {
				return o.JSON(bi)
			}
			o.Println(bi.String())
			return nil
		},
	})
}

var _ fmt.Stringer = BuildInfo{}
