package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/media"
	"github.com/callbackd/callbackd/sip"
)

// minimal is the smallest valid file; tests append or replace lines.
const minimal = `sip:
  listen: 127.0.0.1:5060
trunks:
  - name: pbx
    host: pbx.example.com
`

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func parseAndValidate(t *testing.T, text string, env func(string) (string, bool)) (*Config, error) {
	t.Helper()
	c, err := Parse("test.yaml", []byte(text), env)
	if err != nil {
		return nil, err
	}
	return c, c.Validate()
}

func TestDefaultsForZeroValues(t *testing.T) {
	t.Parallel()
	c, err := parseAndValidate(t, minimal, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"bridge.trunk", c.Bridge.Trunk, "pbx"},
		{"bridge.rep_ring_timeout", c.Bridge.RepRingTimeout, DefaultRepRingTimeout},
		{"bridge.customer_ring_timeout", c.Bridge.CustomerRingTimeout, DefaultCustomerRingTimeout},
		{"bridge.max_call_length", c.Bridge.MaxCallLength, DefaultMaxCallLength},
		{"bridge.accept_timeout", c.Bridge.AcceptTimeout, DefaultAcceptTimeout},
		{"media.ip", c.Media.IP, "127.0.0.1"},
		{"media.port_min", c.Media.PortMin, DefaultMediaPortMin},
		{"media.port_max", c.Media.PortMax, DefaultMediaPortMax},
		{"api.listen", c.API.Listen, DefaultAPIListen},
		{"store.path", c.Store.Path, DefaultStorePath},
		{"guardrails.per_number_per_day", c.Guardrails.PerNumberPerDay, DefaultPerNumberPerDay},
		{"shutdown.drain", c.Shutdown.Drain, DefaultDrain},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// Decoding errors name the file, line and full key path.
func TestDecodeErrorsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []string // substrings of the error
	}{
		{"unknown top-level key", minimal + "triggers: {}\n", []string{"test.yaml:6:", "triggers", "unknown key"}},
		{"unknown nested key", "sip:\n  listen: 127.0.0.1:5060\n  lisen: x\n", []string{"test.yaml:3:", "sip.lisen", "unknown key"}},
		{"unknown key in list item", minimal + "  - name: b\n    host: h\n    passwrd: x\n", []string{"test.yaml:8:", "trunks[1].passwrd", "unknown key"}},
		{"string for int", minimal + "media:\n  port_min: lots\n", []string{"test.yaml:7:", "media.port_min", `"lots" is not an integer`}},
		{"bad duration", minimal + "bridge:\n  rep_ring_timeout: 30 parsecs\n", []string{"test.yaml:7:", "bridge.rep_ring_timeout", "duration"}},
		{"bool wanted", minimal + "sandbox:\n  enabled: maybe\n", []string{"test.yaml:7:", "sandbox.enabled", "true or false"}},
		{"list wanted", "sip:\n  listen: 127.0.0.1:5060\n  transports: udp\n", []string{"test.yaml:3:", "sip.transports", "a list"}},
		{"syntax error", "sip:\n  listen: [127.0.0.1\n", []string{"test.yaml:"}},
		{"empty file", "", []string{"test.yaml", "empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("test.yaml", []byte(tt.text), noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Errorf("error %v is not a *KeyError", err)
			}
		})
	}
}

func TestSeveralErrorsAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Parse("test.yaml", []byte(minimal+"media:\n  port_min: x\n  prot_max: 3\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "media.port_min") || !strings.Contains(err.Error(), "media.prot_max") {
		t.Fatalf("want both problems reported, got %v", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Parallel()
	text := minimal + "    username: cb\n    password: ${TRUNK_PW}\n"
	c, err := parseAndValidate(t, text, envMap(map[string]string{"TRUNK_PW": "s3cr${et}"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Trunks[0].Password != "s3cr${et}" {
		t.Errorf("password = %q, want the variable's value, not expanded again", c.Trunks[0].Password)
	}
	if c.Trunks[0].Username != "cb" {
		t.Errorf("username = %q", c.Trunks[0].Username)
	}

	_, err = Parse("test.yaml", []byte(text), noEnv)
	for _, w := range []string{"test.yaml:7:", "trunks[0].password", "TRUNK_PW", "not set"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("unset variable: error %v does not contain %q", err, w)
		}
	}

	// Only a whole value is a reference.
	c, err = parseAndValidate(t, minimal+"    password: a${B}c\n", noEnv)
	if err != nil || c.Trunks[0].Password != "a${B}c" {
		t.Errorf("partial reference: %q, %v", c.Trunks[0].Password, err)
	}
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{"CALLBACKD_SIP_LISTEN": "127.0.0.9:5099", "CALLBACKD_LOG_FORMAT": "json"})
	c, err := parseAndValidate(t, minimal, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Listen != "127.0.0.9:5099" || c.Log.Format != "json" || c.Media.IP != "127.0.0.9" {
		t.Errorf("overrides not applied: listen %q format %q media ip %q", c.SIP.Listen, c.Log.Format, c.Media.IP)
	}
	_, err = parseAndValidate(t, minimal, envMap(map[string]string{"CALLBACKD_SIP_LISTEN": "nonsense"}))
	if err == nil || !strings.Contains(err.Error(), "$CALLBACKD_SIP_LISTEN") || !strings.Contains(err.Error(), "sip.listen") {
		t.Errorf("bad override: error %v should name the variable and key", err)
	}
	for v, key := range OverrideVars() {
		if !strings.HasPrefix(v, "CALLBACKD_") || key == "" {
			t.Errorf("override %s -> %q", v, key)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want string // "" = valid
	}{
		{"minimal", minimal, ""},
		{"missing listen", "trunks:\n  - name: a\n    host: h\n", "sip.listen: missing"},
		{"wildcard listen", strings.Replace(minimal, "127.0.0.1:5060", "0.0.0.0:5060", 1), "explicit IP"},
		{"no trunks", "sip:\n  listen: 127.0.0.1:5060\n", "trunks: no trunk"},
		{"missing trunk host", "sip:\n  listen: 127.0.0.1:5060\ntrunks:\n  - name: a\n", "test.yaml:4: trunks[0]: trunk \"a\": missing host"},
		{"missing trunk name", "sip:\n  listen: 127.0.0.1:5060\ntrunks:\n  - host: h\n", "trunks[0]: missing name"},
		{"duplicate trunk", minimal + "  - name: pbx\n    host: other\n", "test.yaml:6: trunks[1].name: duplicate trunk name \"pbx\""},
		{"unknown transport", minimal + "    transport: sctp\n", "test.yaml:6: trunks[0].transport: unknown transport \"sctp\""},
		{"transport not enabled", minimal + "    transport: tcp\n", "tcp is not enabled"},
		{"unknown sip transport", "sip:\n  listen: 127.0.0.1:5060\n  transports: [udp, ws]\n" + minimal[strings.Index(minimal, "trunks"):], "test.yaml:3: sip.transports[1]: unknown transport \"ws\""},
		{"tls without cert", "sip:\n  listen: 127.0.0.1:5060\n  transports: [tls]\n" + minimal[strings.Index(minimal, "trunks"):], "tls_cert"},
		{"odd port range", minimal + "media:\n  port_min: 20001\n  port_max: 20999\n", "test.yaml:7: media.port_min: 20001 is odd"},
		{"inverted port range", minimal + "media:\n  port_min: 30000\n  port_max: 20000\n", "test.yaml:8: media.port_max: 20000 is not above port_min"},
		{"privileged ports", minimal + "media:\n  port_min: 100\n  port_max: 200\n", "1024-65535"},
		{"unknown codec", minimal + "media:\n  codecs: [PCMU, opus]\n", "media.codecs[1]: unknown codec \"opus\""},
		{"bad media ip", minimal + "media:\n  ip: eth0\n", "media.ip"},
		{"ipv6 media ip", minimal + "media:\n  ip: \"::1\"\n", "IPv4"},
		{"sandbox listen", minimal + "sandbox:\n  enabled: true\n  listen: localhost\n", "sandbox.listen"},
		{"sandbox ports overlap media", minimal + "sandbox:\n  enabled: true\n  rtp_port_min: 20500\n  rtp_port_max: 21500\n", "overlaps media"},
		{"sandbox ports inverted", minimal + "sandbox:\n  enabled: true\n  rtp_port_min: 31000\n  rtp_port_max: 30000\n", "sandbox.rtp_port_min"},
		{"sandbox off ignores listen", minimal + "sandbox:\n  enabled: false\n  listen: nonsense\n", ""},
		{"bridge trunk", minimal + "bridge:\n  trunk: nope\n", "test.yaml:7: bridge.trunk: no trunk named \"nope\""},
		{"negative ring", minimal + "bridge:\n  rep_ring_timeout: -1s\n", "bridge.rep_ring_timeout: must not be negative"},
		{"short session timer", minimal + "    session_expires: 30s\n", "90s"},
		{"register without user", minimal + "    register: true\n", "register needs a username"},
		{"api listen", minimal + "api:\n  listen: \":8080\"\n", "api.listen"},
		{"weak admin key", minimal + "api:\n  admin_key: short\n", "api.admin_key: too weak"},
		{"admin key not echoed", minimal + "api:\n  admin_key: secret-but-short\n", "at least 24"},
		{"good admin key", minimal + "api:\n  admin_key: 0123456789abcdef01234567\n", ""},
		{"allow prefix", minimal + "guardrails:\n  allow: [\"1\", \"+44\"]\n", "test.yaml:7: guardrails.allow[0]: \"1\" is not an E.164 prefix"},
		{"deny prefix", minimal + "guardrails:\n  deny: [\"+1-900\"]\n", "guardrails.deny[0]"},
		{"per number per day", minimal + "guardrails:\n  per_number_per_day: -2\n", "guardrails.per_number_per_day"},
		{"negative drain", minimal + "shutdown:\n  drain: -1s\n", "shutdown.drain: must not be negative"},
		{"log level", minimal + "log:\n  level: loud\n", "log.level: unknown level"},
		{"log format", minimal + "log:\n  format: xml\n", "log.format: unknown format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseAndValidate(t, tt.text, noEnv)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("no error, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// configs/callbackd.yaml is what users edit; config/default.yaml is its
// embedded copy. They must not drift apart.
func TestDefaultMatchesShippedFile(t *testing.T) {
	t.Parallel()
	shipped, err := os.ReadFile(filepath.Join("..", "configs", "callbackd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, DefaultYAML()) {
		t.Fatal("configs/callbackd.yaml and config/default.yaml differ: copy one onto the other (cp configs/callbackd.yaml config/default.yaml)")
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Listen != "127.0.0.1:5062" || !c.Sandbox.Enabled || c.Sandbox.Listen != "127.0.0.1:5070" {
		t.Errorf("default sip %q sandbox %v %q", c.SIP.Listen, c.Sandbox.Enabled, c.Sandbox.Listen)
	}
	if len(c.Trunks) != 1 || c.Trunks[0].Name != "sandbox" || c.Trunks[0].Host+":5070" != c.Sandbox.Listen {
		t.Errorf("default trunk %+v should point at the sandbox %q", c.Trunks, c.Sandbox.Listen)
	}
	if want := filepath.Join("testdata", "audio", "whisper.wav"); c.Bridge.WhisperPrompt != want {
		t.Errorf("whisper prompt %q, want %q (relative to the repo root)", c.Bridge.WhisperPrompt, want)
	}
}

// Every shipped example loads and validates, and its prompt files exist.
func TestShippedConfigs(t *testing.T) {
	t.Setenv("CALLBACKD_TRUNK_PASSWORD", "example-secret")
	files, err := filepath.Glob(filepath.Join("..", "configs", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("configs/*.yaml: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			// The packages that consume the sections accept them too.
			ua, err := sip.New(c.SIP, c.Trunks, nil)
			if err != nil {
				t.Errorf("sip.New: %v", err)
			} else {
				ua.Close()
			}
			pool, err := media.NewPool(c.Media, nil)
			if err != nil {
				t.Errorf("media.NewPool: %v", err)
			} else {
				pool.Close()
			}
			for _, p := range []string{c.Bridge.WhisperPrompt, c.Bridge.UnreachablePrompt} {
				if p == "" {
					continue
				}
				if _, err := os.Stat(p); err != nil {
					t.Errorf("prompt: %v", err)
				}
			}
		})
	}
}

func TestLoadResolvesPathsAndReportsMissingFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	text := minimal + "bridge:\n  whisper_prompt: prompts/w.wav\n  unreachable_prompt: /abs/u.wav\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bridge.WhisperPrompt != filepath.Join(dir, "prompts", "w.wav") || c.Bridge.UnreachablePrompt != "/abs/u.wav" {
		t.Errorf("paths %q %q", c.Bridge.WhisperPrompt, c.Bridge.UnreachablePrompt)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	LogConfig{Level: "warn", Format: "json"}.NewLogger(&buf).Info("hidden")
	LogConfig{Level: "warn", Format: "json"}.NewLogger(&buf).Warn("shown", "d", time.Second)
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.HasPrefix(out, "{") || !strings.Contains(out, "shown") {
		t.Errorf("logger output %q", out)
	}
}

// A bad CALLBACKD_* override is the user's error, reported, not a panic.
func TestDefaultBadOverride(t *testing.T) {
	t.Setenv("CALLBACKD_SIP_LISTEN", "nonsense")
	if _, err := Default(); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Default with a bad override: %v, want an error naming the setting", err)
	}
}

func TestWebhooksSection(t *testing.T) {
	c, err := Parse("test.yaml", []byte("webhooks:\n  retry_schedule: [1s, 2m]\n  timeout: 3s\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Webhooks
	if len(w.RetrySchedule) != 2 || w.RetrySchedule[1] != 2*time.Minute || w.Timeout != 3*time.Second ||
		w.Workers != DefaultWebhookWorkers || w.PerTarget != DefaultWebhookPerTarget || w.DisableAfter != DefaultWebhookDisableAfter || w.AllowPrivateURLs {
		t.Errorf("webhooks = %+v", w)
	}
	if c, err = Parse("test.yaml", []byte("log:\n  level: info\n"), noEnv); err != nil {
		t.Fatal(err)
	}
	if got := c.Webhooks.RetrySchedule; len(got) != 8 || got[1] != 5*time.Second || got[7] != 10*time.Hour {
		t.Errorf("default schedule %v", got)
	}
	for _, tc := range []struct{ yaml, key string }{
		{"webhooks:\n  workers: -1\n", "webhooks.workers"},
		{"webhooks:\n  workers: 2\n  per_target: 3\n", "webhooks.per_target"},
		{"webhooks:\n  retry_schedule: [1s, -2s]\n", "webhooks.retry_schedule[1]"},
		{"webhooks:\n  disable_after: -1h\n", "webhooks.disable_after"},
	} {
		c, err := Parse("test.yaml", []byte(tc.yaml), noEnv)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: error %v, want one naming %s", tc.yaml, err, tc.key)
		}
	}
}
