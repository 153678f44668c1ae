package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KeyError is one problem in the configuration, located by file, line and
// key path ("trunks[1].host"). Load returns them joined with errors.Join;
// use errors.As to get the first.
type KeyError struct {
	File string
	Line int    // 0 when unknown
	Env  string // set when the value came from this environment variable
	Key  string // empty for a syntax error
	Msg  string
}

func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Env != "" {
		fmt.Fprintf(&b, " ($%s)", e.Env)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// source tells where a key's value came from.
type source struct {
	file string
	line int
	env  string // an override variable, when it replaced the file's value
}

// keyErr builds a KeyError for key, located from the origin map.
func (c *Config) keyErr(key, format string, args ...any) *KeyError {
	e := &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
	if s, ok := c.origin[key]; ok {
		e.File, e.Line, e.Env = s.file, s.line, s.env
	} else if s, ok := c.origin[""]; ok {
		e.File = s.file
	}
	if e.File == "" {
		e.File = "config"
	}
	return e
}

var (
	lineRe   = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownR = regexp.MustCompile(`^field (\S+) not found in type`)
	typeRe   = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (.+)$")
)

// decode reads data into c: unknown keys and type mismatches are KeyErrors
// naming the key and line. It returns where each key was found.
func decode(name string, data []byte, c *Config) (map[string]source, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(name, err)
	}
	if len(doc.Content) == 0 {
		return nil, &KeyError{File: name, Msg: "the file is empty"}
	}
	origin := map[string]source{"": {file: name}}
	lineKey := map[int]string{}
	indexNode(doc.Content[0], "", name, origin, lineKey)

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if err == nil || errors.Is(err, io.EOF) {
		return origin, nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return nil, syntaxError(name, err)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		ke := &KeyError{File: name, Msg: msg}
		if m := lineRe.FindStringSubmatch(msg); m != nil {
			ke.Line, _ = strconv.Atoi(m[1])
			ke.Key = lineKey[ke.Line]
			ke.Msg = m[2]
		}
		if m := unknownR.FindStringSubmatch(ke.Msg); m != nil {
			ke.Msg = "unknown key"
			if ke.Key == "" {
				ke.Key = m[1]
			}
		} else if m := typeRe.FindStringSubmatch(ke.Msg); m != nil {
			ke.Msg = fmt.Sprintf("%q is not %s", m[2], describeType(m[3]))
		}
		errs = append(errs, ke)
	}
	return nil, errors.Join(errs...)
}

func describeType(goType string) string {
	switch {
	case goType == "time.Duration":
		return `a duration (e.g. "30s", "1m30s")`
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	default:
		return "a mapping of keys"
	}
}

// syntaxError turns "yaml: line 3: did not find ..." into a KeyError.
func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	ke := &KeyError{File: name, Msg: msg}
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		ke.Line, _ = strconv.Atoi(m[1])
		ke.Msg = m[2]
	}
	return ke
}

// indexNode records the line of every key and list item under n.
func indexNode(n *yaml.Node, path, file string, origin map[string]source, lineKey map[int]string) {
	// lineKey takes only mapping keys: "- passwrd: x" is about
	// trunks[0].passwrd, not trunks[0] that starts on the same line.
	record := func(p string, line int, isKey bool) {
		origin[p] = source{file: file, line: line}
		if _, ok := lineKey[line]; !ok && isKey {
			lineKey[line] = p
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexNode(c, path, file, origin, lineKey)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			record(p, k.Line, true)
			indexNode(v, p, file, origin, lineKey)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			record(p, item.Line, false)
			indexNode(item, p, file, origin, lineKey)
		}
	}
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// expandEnv replaces every string value "${NAME}" by the variable NAME.
func (c *Config) expandEnv(file string, env func(string) (string, bool)) error {
	var errs []error
	walkStrings(reflect.ValueOf(c).Elem(), "", func(path string, v reflect.Value) {
		m := envRef.FindStringSubmatch(v.String())
		if m == nil {
			return
		}
		val, ok := env(m[1])
		if !ok {
			errs = append(errs, c.keyErr(path, "environment variable %s is not set", m[1]))
			return
		}
		v.SetString(val)
	})
	return errors.Join(errs...)
}

// walkStrings calls fn for every settable string in v (structs by their
// yaml tags, slices by index), with its key path.
func walkStrings(v reflect.Value, path string, fn func(string, reflect.Value)) {
	switch v.Kind() {
	case reflect.String:
		fn(path, v)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			walkStrings(v.Field(i), p, fn)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			walkStrings(v.Elem(), path, fn)
		}
	}
}

// override is a CALLBACKD_* variable that replaces one setting.
type override struct {
	env, key string
	field    func(*Config) *string
}

// overrides lists the settings that differ most between hosts.
var overrides = []override{
	{"CALLBACKD_SIP_LISTEN", "sip.listen", func(c *Config) *string { return &c.SIP.Listen }},
	{"CALLBACKD_SIP_EXTERNAL_HOST", "sip.external_host", func(c *Config) *string { return &c.SIP.ExternalHost }},
	{"CALLBACKD_MEDIA_IP", "media.ip", func(c *Config) *string { return &c.Media.IP }},
	{"CALLBACKD_MEDIA_PUBLIC_IP", "media.public_ip", func(c *Config) *string { return &c.Media.PublicIP }},
	{"CALLBACKD_API_LISTEN", "api.listen", func(c *Config) *string { return &c.API.Listen }},
	{"CALLBACKD_ADMIN_KEY", "api.admin_key", func(c *Config) *string { return &c.API.AdminKey }},
	{"CALLBACKD_STORE_PATH", "store.path", func(c *Config) *string { return &c.Store.Path }},
	{"CALLBACKD_LOG_LEVEL", "log.level", func(c *Config) *string { return &c.Log.Level }},
	{"CALLBACKD_LOG_FORMAT", "log.format", func(c *Config) *string { return &c.Log.Format }},
}

// OverrideVars names the environment variables that override settings,
// each with the key it replaces.
func OverrideVars() map[string]string {
	m := make(map[string]string, len(overrides))
	for _, o := range overrides {
		m[o.env] = o.key
	}
	return m
}

func (c *Config) applyOverrides(env func(string) (string, bool)) {
	for _, o := range overrides {
		if v, ok := env(o.env); ok && v != "" {
			*o.field(c) = v
			s := c.origin[o.key]
			if s.file == "" {
				s.file = c.origin[""].file
			}
			s.env = o.env
			c.origin[o.key] = s
		}
	}
}
