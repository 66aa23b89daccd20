package apogee

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestValidateWebhookURL(t *testing.T) {
	tests := []struct {
		url          string
		allowPrivate bool
		want         string // "" = valid; else a part of the message
	}{
		{"https://hooks.slack.com/services/T0/B0/xyz", false, ""},
		{"http://example.com:8080/hook?x=1", false, ""},
		{"https://93.184.216.34/hook", false, ""},
		{"", false, "empty"},
		{"ftp://example.com/", false, "https://"},
		{"example.com/hook", false, "https://"},
		{"https:///path", false, "no host"},
		{"https://user:pw@example.com/", false, "user or password"},
		{"https://example.com/#frag", false, "fragment"},
		{"https://" + strings.Repeat("a", MaxWebhookURLLen) + ".com/", false, "limit"},
		{"http://localhost:9000/", false, "--webhooks-allow-private"},
		{"http://app.localhost/", false, "--webhooks-allow-private"},
		{"http://127.0.0.1:9000/", false, "not public"},
		{"http://[::1]/", false, "not public"},
		{"http://10.0.0.1/", false, "not public"},
		{"http://192.168.1.10/", false, "not public"},
		{"http://169.254.169.254/latest/meta-data", false, "not public"},
		{"http://[fe80::1]/", false, "not public"},
		{"http://[::ffff:127.0.0.1]/", false, "not public"},
		{"http://100.64.0.1/", false, "not public"},
		{"http://0.0.0.0/", false, "not public"},
		{"http://127.0.0.1:9000/", true, ""},
		{"http://localhost:9000/", true, ""},
		{"ftp://127.0.0.1/", true, "https://"},
	}
	for _, tt := range tests {
		_, err := ValidateWebhookURL(tt.url, tt.allowPrivate)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateWebhookURL(%.60q, %v) = %v; want valid", tt.url, tt.allowPrivate, err)
		case tt.want != "" && (ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tt.want)):
			t.Errorf("ValidateWebhookURL(%.60q, %v) = %v; want EINVALID saying %q", tt.url, tt.allowPrivate, err, tt.want)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700:4700::1111": true, "172.32.0.1": true,
		"127.0.0.1": false, "10.255.255.255": false, "172.16.0.1": false, "192.168.0.1": false,
		"169.254.1.1": false, "::1": false, "fe80::1": false, "fd00::1": false, "::": false,
		"224.0.0.1": false, "255.255.255.255": false, "::ffff:10.0.0.1": false, "198.18.0.1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v; want %v", addr, got, want)
		}
	}
}

func TestValidateWebhookEvents(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
		err  bool
	}{
		{nil, nil, false},
		{[]string{" deployment.error", "deployment.ready", "deployment.error"}, []string{"deployment.ready", "deployment.error"}, false},
		{[]string{"deployment.ready", ""}, []string{"deployment.ready"}, false},
		{[]string{"push"}, nil, true},
		{[]string{"ping"}, nil, true},
	}
	for _, tt := range tests {
		got, err := ValidateWebhookEvents(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ValidateWebhookEvents(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestValidateWebhookSecret(t *testing.T) {
	for s, ok := range map[string]bool{
		"0123456789abcdef": true, strings.Repeat("x", MaxWebhookSecretLen): true,
		"short": false, strings.Repeat("x", MaxWebhookSecretLen+1): false, "has a space in it!!": false, "ünïcödé-ünïcödé-x": false,
	} {
		if err := ValidateWebhookSecret(s); (err == nil) != ok {
			t.Errorf("ValidateWebhookSecret(%.20q) = %v; want ok %v", s, err, ok)
		}
	}
}
