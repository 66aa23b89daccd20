package apogee

import (
	"strings"
	"testing"
	"time"
)

func freeLimits() PlanLimits {
	return PlanLimits{Projects: 10, ConcurrentBuilds: 1, BuildMinutes: 100, StorageBytes: 1 << 30, CustomDomains: 5,
		AppMemoryMB: DefaultAppMemoryMB, AppCPUs: DefaultAppCPUs, AppPids: DefaultAppPids, AppInstances: DefaultAppInstances,
		ReleasesKept: DefaultReleasesKept, RuntimeLogBytes: DefaultRuntimeLogBytes, RuntimeLogDays: DefaultRuntimeLogDays}
}

func TestPlanValidateAppLimits(t *testing.T) {
	tests := []struct {
		name   string
		change func(*PlanLimits)
		err    string // "" when valid
	}{
		{"free", func(*PlanLimits) {}, ""},
		{"unlimited everything", func(l *PlanLimits) {
			l.AppMemoryMB, l.AppCPUs, l.AppPids, l.AppInstances, l.ReleasesKept, l.RuntimeLogBytes, l.RuntimeLogDays = -1, -1, -1, -1, -1, -1, -1
		}, ""},
		{"no apps", func(l *PlanLimits) { l.AppInstances = 0 }, ""},
		{"no runtime logs kept", func(l *PlanLimits) { l.RuntimeLogBytes, l.RuntimeLogDays = 0, 0 }, ""},
		{"a quarter CPU", func(l *PlanLimits) { l.AppCPUs = 0.25 }, ""},
		{"defaults", func(l *PlanLimits) { l.AppMemoryMB, l.AppCPUs, l.AppPids, l.ReleasesKept = 0, 0, 0, 0 }, ""},
		{"too many CPUs", func(l *PlanLimits) { l.AppCPUs = 2000 }, `from 0.01 to 1024`},
		{"a sliver of CPU", func(l *PlanLimits) { l.AppCPUs = 0.001 }, `from 0.01 to 1024`},
		{"negative CPU", func(l *PlanLimits) { l.AppCPUs = -2 }, `"app_cpus" is -2`},
		{"negative days", func(l *PlanLimits) { l.RuntimeLogDays = -2 }, `"runtime_log_days" is -2`},
		{"negative instances", func(l *PlanLimits) { l.AppInstances = -5 }, `"app_instances" is -5`},
	}
	for _, tt := range tests {
		p := Plan{Name: "p", Limits: freeLimits()}
		tt.change(&p.Limits)
		err := p.Validate()
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want EINVALID saying %q", tt.name, err, tt.err)
		}
	}
}

func TestPlanApps(t *testing.T) {
	free := &Plan{Name: "free", Limits: freeLimits()}
	a := free.Apps()
	want := AppLimits{Plan: free, MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, MaxInstances: 3, ReleasesKept: 10,
		RuntimeLogAge: 7 * 24 * time.Hour, RuntimeLogBytes: 100 << 20}
	if a != want {
		t.Errorf("free: %+v\nwant %+v", a, want)
	}
	big := &Plan{Name: "big", Limits: PlanLimits{AppMemoryMB: -1, AppCPUs: -1, AppPids: -1, AppInstances: -1, ReleasesKept: -1, RuntimeLogBytes: -1, RuntimeLogDays: -1}}
	a = big.Apps()
	want = AppLimits{Plan: big, MaxInstances: -1, ReleasesKept: -1, RuntimeLogAge: -1, RuntimeLogBytes: -1}
	if a != want {
		t.Errorf("unlimited: %+v\nwant %+v", a, want)
	}
	// A row without app limits (0s) gets the free plan's.
	old := &Plan{Name: "old"}
	if a := old.Apps(); a.MemoryBytes != 512<<20 || a.CPUs != 1 || a.Pids != 256 || a.ReleasesKept != 10 {
		t.Errorf("zero limits: %+v", a)
	}

	if err := free.Apps().CheckInstances(3); err != nil {
		t.Error(err)
	}
	err := free.Apps().CheckInstances(4)
	if ErrorCode(err) != EQUOTA || !strings.Contains(ErrorMessage(err), `your plan "free" allows 3 instances of an app and this asks for 4`) {
		t.Errorf("4 of 3: %v", err)
	}
	none := &Plan{Name: "static", Limits: PlanLimits{AppInstances: 0}}
	if err := none.Apps().CheckInstances(1); ErrorCode(err) != EQUOTA || !strings.Contains(ErrorMessage(err), "allows no apps") {
		t.Errorf("1 of none: %v", err)
	}
	if err := big.Apps().CheckInstances(1000); err != nil {
		t.Error(err)
	}
}

func TestParseLogTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"90s":                  now.Add(-90 * time.Second),
		"15m":                  now.Add(-15 * time.Minute),
		"1h30m":                now.Add(-90 * time.Minute),
		"2d":                   now.Add(-48 * time.Hour),
		"1d12h":                now.Add(-36 * time.Hour),
		"2026-11-30T08:00:00Z": time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC),
	} {
		got, err := ParseLogTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-5m", "5", "d", "xd", "99999d", "2026-13-01"} {
		if _, err := ParseLogTime(bad, now); ErrorCode(err) != EINVALID {
			t.Errorf("%q: %v, want EINVALID", bad, err)
		}
	}
}

func TestRuntimeLogQueryMatches(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := LogLine{Time: t0, Instance: "aaaaaaaaaaaa", Text: "GET /Health ünï"}
	for _, tt := range []struct {
		q    RuntimeLogQuery
		want bool
	}{
		{RuntimeLogQuery{}, true},
		{RuntimeLogQuery{Instance: "aaaaaaaaaaaa", Search: "get /health"}, true},
		{RuntimeLogQuery{Search: "HEALTH ünï"}, true},
		{RuntimeLogQuery{Search: "ÜNÏ"}, false}, // ASCII case only, as the store
		{RuntimeLogQuery{Instance: "bbbbbbbbbbbb"}, false},
		{RuntimeLogQuery{Since: t0, Until: t0.Add(time.Second)}, true},
		{RuntimeLogQuery{Until: t0}, false},
		{RuntimeLogQuery{Since: t0.Add(time.Nanosecond)}, false},
	} {
		if got := tt.q.Matches(l); got != tt.want {
			t.Errorf("%+v: %v", tt.q, got)
		}
	}
}
