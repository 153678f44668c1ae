// Package config reads callbackd's YAML configuration file.
//
// Unknown keys and values of the wrong type are errors that name the key and
// its line. A string value written as ${NAME} is replaced by the environment
// variable NAME (an error when it is unset), so secrets stay out of the file.
// A few top-level settings can also be overridden by CALLBACKD_* variables
// (see Overrides). Relative file paths are relative to the config file's
// folder.
package config

import (
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/callbackd/callbackd/media"
	"github.com/callbackd/callbackd/sandbox"
	"github.com/callbackd/callbackd/sip"
)

// Config is the whole configuration file.
type Config struct {
	SIP        sip.Config        `yaml:"sip"`
	Trunks     []sip.TrunkConfig `yaml:"trunks"`
	Media      media.Config      `yaml:"media"`
	Sandbox    sandbox.Config    `yaml:"sandbox"`
	Bridge     BridgeConfig      `yaml:"bridge"`
	API        APIConfig         `yaml:"api"`
	Store      StoreConfig       `yaml:"store"`
	Guardrails GuardrailsConfig  `yaml:"guardrails"`
	Shutdown   ShutdownConfig    `yaml:"shutdown"`
	Webhooks   WebhooksConfig    `yaml:"webhooks"`
	Log        LogConfig         `yaml:"log"`

	// origin maps a key path ("trunks[0].host") to where its value came
	// from, for messages; "" holds the file name.
	origin map[string]source
}

// BridgeConfig holds the call defaults a callback can override.
type BridgeConfig struct {
	// Trunk is the trunk calls go out through; default the first trunk.
	Trunk string `yaml:"trunk"`
	// RepRingTimeout and CustomerRingTimeout end an unanswered leg (default
	// 30 s and 45 s).
	RepRingTimeout      time.Duration `yaml:"rep_ring_timeout"`
	CustomerRingTimeout time.Duration `yaml:"customer_ring_timeout"`
	// MaxCallLength hangs up both legs after this long (default 4 h), so a
	// forgotten call cannot run up a bill.
	MaxCallLength time.Duration `yaml:"max_call_length"`
	// WhisperPrompt is a WAV played to the rep before the customer is dialled
	// (8 kHz mono, 16-bit or G.711); empty plays nothing.
	WhisperPrompt string `yaml:"whisper_prompt"`
	// RequireAccept makes the rep press 1 after the whisper.
	RequireAccept bool `yaml:"require_accept"`
	// AcceptTimeout is how long to wait for that key press (default 10 s).
	AcceptTimeout time.Duration `yaml:"accept_timeout"`
	// CustomerFirst dials the customer before the rep.
	CustomerFirst bool `yaml:"customer_first"`
	// UnreachablePrompt is played to the first party when the second cannot
	// be reached; empty plays a short tone.
	UnreachablePrompt string `yaml:"unreachable_prompt"`
}

// APIConfig is the REST API's HTTP listener.
type APIConfig struct {
	// Listen is the IP:port the REST API serves on (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// AdminKey, when set, is an API key with the admin scope, stored (hashed)
	// at start-up so that a fresh server can be used at once. Write it as
	// ${NAME} or set CALLBACKD_ADMIN_KEY; at least 24 characters.
	AdminKey string `yaml:"admin_key"`
}

// StoreConfig is where callbacks, teams and keys are kept.
type StoreConfig struct {
	// Path is the bbolt file (default data/callbackd.db beside the config
	// file's folder); its folder is created when missing.
	Path string `yaml:"path"`
}

// GuardrailsConfig limits where and how often callbackd calls, against toll
// fraud and harassment.
type GuardrailsConfig struct {
	// Allow lists the E.164 prefixes customers may have ("+1", "+44", "+4420").
	// Empty: the country calling codes of the teams' reps.
	Allow []string `yaml:"allow"`
	// Deny lists premium-rate or other prefixes never called, on top of the
	// numbers libphonenumber knows to be premium rate.
	Deny []string `yaml:"deny"`
	// PerNumberPerDay limits callbacks created per customer number in 24 h
	// (default 5; -1 = no limit).
	PerNumberPerDay int `yaml:"per_number_per_day"`
}

// ShutdownConfig is how SIGTERM ends the server.
type ShutdownConfig struct {
	// Drain is how long calls in progress may go on after SIGTERM before they
	// are hung up (default 30 s).
	Drain time.Duration `yaml:"drain"`
}

// WebhooksConfig tunes the delivery of webhooks.
type WebhooksConfig struct {
	// Workers bounds the deliveries in flight at once (default 16), and
	// PerTarget those to one receiver (default 4), so a slow receiver
	// cannot hold up the others.
	Workers   int `yaml:"workers"`
	PerTarget int `yaml:"per_target"`
	// Timeout bounds one attempt (default 15 s).
	Timeout time.Duration `yaml:"timeout"`
	// RetrySchedule is the wait before each attempt after a failure, with
	// ±10% jitter; after the last the delivery fails (default 0s, 5s, 5m,
	// 30m, 2h, 5h, 10h, 10h).
	RetrySchedule []time.Duration `yaml:"retry_schedule"`
	// DisableAfter disables an endpoint that has failed continuously for
	// this long (default 120h, five days).
	DisableAfter time.Duration `yaml:"disable_after"`
	// AllowPrivateURLs lets webhook URLs point at loopback, private and
	// link-local addresses; off, they are refused against server-side
	// request forgery.
	AllowPrivateURLs bool `yaml:"allow_private_urls"`
}

// LogConfig selects the log level (debug, info, warn, error) and format
// (text, json).
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Defaults filled in for zero values.
const (
	DefaultRepRingTimeout      = 30 * time.Second
	DefaultCustomerRingTimeout = 45 * time.Second
	DefaultMaxCallLength       = 4 * time.Hour
	DefaultAcceptTimeout       = 10 * time.Second
	DefaultMediaPortMin        = 20000
	DefaultMediaPortMax        = 20999
	DefaultAPIListen           = "127.0.0.1:8080"
	DefaultStorePath           = "../data/callbackd.db"
	DefaultPerNumberPerDay     = 5
	DefaultDrain               = 30 * time.Second
	DefaultWebhookWorkers      = 16
	DefaultWebhookPerTarget    = 4
	DefaultWebhookTimeout      = 15 * time.Second
	DefaultWebhookDisableAfter = 5 * 24 * time.Hour
	DefaultLogLevel            = "info"
	DefaultLogFormat           = "text"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the default configuration file, the same text as
// configs/callbackd.yaml.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns the default configuration: loopback SIP, the built-in
// sandbox trunk, no outside services. Relative paths in it are resolved as
// for configs/callbackd.yaml, i.e. from the repository root. CALLBACKD_*
// overrides apply, so a bad environment variable is an error.
func Default() (*Config, error) {
	c, err := Parse("default.yaml", defaultYAML, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	c.resolvePaths("configs")
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Load reads, checks and completes the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(path, data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	c.resolvePaths(filepath.Dir(path))
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes a configuration file's content: name is used in messages,
// env looks up ${NAME} references and CALLBACKD_* overrides. It applies
// defaults but does not validate nor resolve relative paths.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	origin, err := decode(name, data, c)
	if err != nil {
		return nil, err
	}
	c.origin = origin
	if err := c.expandEnv(name, env); err != nil {
		return nil, err
	}
	c.applyOverrides(env)
	c.applyDefaults()
	return c, nil
}

func (c *Config) applyDefaults() {
	b := &c.Bridge
	if b.Trunk == "" && len(c.Trunks) > 0 {
		b.Trunk = c.Trunks[0].Name
	}
	setDur(&b.RepRingTimeout, DefaultRepRingTimeout)
	setDur(&b.CustomerRingTimeout, DefaultCustomerRingTimeout)
	setDur(&b.MaxCallLength, DefaultMaxCallLength)
	setDur(&b.AcceptTimeout, DefaultAcceptTimeout)
	if c.Media.IP == "" {
		// RTP on the SIP address is right for a one-address host.
		if host, _, ok := strings.Cut(c.SIP.Listen, ":"); ok && !strings.Contains(c.SIP.Listen, "[") {
			c.Media.IP = host
			if c.origin != nil { // a bad value is reported where it was written
				c.origin["media.ip"] = c.origin["sip.listen"]
			}
		}
	}
	if c.Media.PortMin == 0 && c.Media.PortMax == 0 {
		c.Media.PortMin, c.Media.PortMax = DefaultMediaPortMin, DefaultMediaPortMax
	}
	if c.API.Listen == "" {
		c.API.Listen = DefaultAPIListen
	}
	if c.Store.Path == "" {
		c.Store.Path = DefaultStorePath
	}
	if c.Guardrails.PerNumberPerDay == 0 {
		c.Guardrails.PerNumberPerDay = DefaultPerNumberPerDay
	}
	setDur(&c.Shutdown.Drain, DefaultDrain)
	w := &c.Webhooks
	if w.Workers == 0 {
		w.Workers = DefaultWebhookWorkers
	}
	if w.PerTarget == 0 {
		w.PerTarget = DefaultWebhookPerTarget
	}
	setDur(&w.Timeout, DefaultWebhookTimeout)
	setDur(&w.DisableAfter, DefaultWebhookDisableAfter)
	if w.RetrySchedule == nil {
		w.RetrySchedule = DefaultWebhookSchedule()
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
}

// DefaultWebhookSchedule is the default retry schedule: immediately, then
// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: about 27.5 hours.
func DefaultWebhookSchedule() []time.Duration {
	return []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// resolvePaths makes relative file paths relative to dir.
func (c *Config) resolvePaths(dir string) {
	for _, p := range []*string{&c.Store.Path, &c.Bridge.WhisperPrompt, &c.Bridge.UnreachablePrompt, &c.SIP.TLSCert, &c.SIP.TLSKey, &c.SIP.TLSCA} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// NewLogger returns a slog logger writing to w as configured.
func (l LogConfig) NewLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level)) // checked by Validate; info otherwise
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(l.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
