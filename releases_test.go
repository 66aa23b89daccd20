package apogee

import (
	"strings"
	"testing"
)

func TestValidateAppSettings(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	for _, tc := range []struct {
		name string
		a    AppSettings
		want string // "" valid; else a part of the message
	}{
		{"empty", AppSettings{}, ""},
		{"app", AppSettings{Kind: str(KindApp), StartCommand: str("node server.js"), HealthPath: str("/healthz"), BootTimeout: num(30)}, ""},
		{"bwrap", AppSettings{Sandbox: str("bwrap")}, ""},
		{"runsc", AppSettings{Sandbox: str("runsc")}, ""},
		{"no sandbox at all", AppSettings{Sandbox: str("none")}, "settings.app.sandbox \"none\" must be one of bwrap, runsc"},
		{"unknown sandbox", AppSettings{Sandbox: str("docker")}, "settings.app.sandbox \"docker\""},
		{"kind", AppSettings{Kind: str("lambda")}, "settings.app.kind"},
		{"start command on two lines", AppSettings{StartCommand: str("node a\nrm -rf /")}, "settings.app.start_command"},
		{"health path", AppSettings{HealthPath: str("healthz")}, "settings.app.health_path"},
		{"boot timeout", AppSettings{BootTimeout: num(0)}, "settings.app.boot_timeout is 0"},
		{"instances", AppSettings{Instances: num(DefaultMaxInstances + 1)}, "settings.app.instances"},
		{"min above max", AppSettings{MinInstances: num(3), MaxInstances: num(2)}, "min instances 3 is above max instances 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateAppSettings(tc.a)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			case tc.want != "" && ErrorCode(err) != EINVALID:
				t.Fatalf("code %q, want %q", ErrorCode(err), EINVALID)
			}
		})
	}
}
