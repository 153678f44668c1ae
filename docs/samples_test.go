package docs

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/webhook"
)

// blockTimeout bounds one sample's run.
const blockTimeout = 60 * time.Second

// checkTestMarker says whether a <!-- test ... --> marker fits its block.
func checkTestMarker(b block) error {
	kind, arg, _ := strings.Cut(b.marker.arg, " ")
	switch kind {
	case "":
		if !slices.Contains([]string{"sh", "python", "js", "json", "yaml"}, b.lang) {
			return fmt.Errorf("<!-- test --> runs sh, python and js and checks json and yaml, not %q: name a check (<!-- test: KIND -->)", b.lang)
		}
	case "config":
		if b.lang != "yaml" {
			return errors.New("<!-- test: config --> is for a yaml block")
		}
	case "excerpt":
		if arg == "" {
			return errors.New("<!-- test: excerpt FILE --> needs the file, relative to the repository")
		}
		if _, err := os.Stat(filepath.Join("..", arg)); err != nil {
			return fmt.Errorf("excerpt of %s: %v", arg, err)
		}
	case "verify":
		if b.lang != "python" && b.lang != "js" {
			return errors.New("<!-- test: verify --> is for a python or js block defining verify(secret, headers, body, tolerance)")
		}
	case "receiver":
		if _, ok := receiverFiles[b.lang]; !ok {
			return errors.New("<!-- test: receiver --> is for a go, python or js program")
		}
	case "webhook-body":
		if b.lang != "json" {
			return errors.New("<!-- test: webhook-body --> is for a json block")
		}
	case "log":
		if b.lang != "text" {
			return errors.New("<!-- test: log --> is for a text block of log lines")
		}
	case "window", "retry":
		if b.lang != "json" {
			return fmt.Errorf("<!-- test: %s --> is for a json block", kind)
		}
	case "backup":
		if b.lang != "sh" || arg == "" {
			return errors.New("<!-- test: backup FILE --> is for a sh block that writes FILE")
		}
	default:
		return fmt.Errorf("unknown check %q", kind)
	}
	return nil
}

// ---- the shared server ----

// shared is one callbackd (internal/testserver) for every sample, and a
// webhook receiver beside it.
type shared struct {
	url, key string
	binDir   string // holds the callbackd binary
	recv     *receiver
	tmp      string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	logMu    sync.Mutex
	log      *bytes.Buffer
	done     chan struct{}
	err      error
}

var (
	sharedOnce sync.Once
	sharedSrv  *shared
)

// server returns the shared server, starting it the first time.
func server(t *testing.T) *shared {
	t.Helper()
	sharedOnce.Do(func() { sharedSrv = startShared() })
	if sharedSrv.err != nil {
		t.Fatalf("test server: %v\n%s", sharedSrv.err, sharedSrv.logText())
	}
	return sharedSrv
}

func startShared() *shared {
	s := &shared{log: &bytes.Buffer{}, done: make(chan struct{})}
	fail := func(err error) *shared {
		s.err = err
		return s
	}
	var err error
	if s.tmp, err = os.MkdirTemp("", "callbackd-docs-"); err != nil {
		return fail(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return fail(err)
	}
	s.binDir = filepath.Join(s.tmp, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(s.binDir, "callbackd"), "./cmd/callbackd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("build callbackd: %v\n%s", err, out))
	}
	s.cmd = exec.Command("go", "run", "./internal/testserver", "-bin", filepath.Join(s.binDir, "callbackd"))
	s.cmd.Dir = root
	s.cmd.Stderr = &lockedWriter{mu: &s.logMu, w: s.log}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return fail(err)
	}
	if err := s.cmd.Start(); err != nil {
		return fail(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			return fail(errors.New("testserver exited without printing its address"))
		}
		var ready struct {
			URL      string `json:"url"`
			AdminKey string `json:"admin_key"`
		}
		if err := json.Unmarshal([]byte(l), &ready); err != nil {
			return fail(fmt.Errorf("testserver said %q: %v", l, err))
		}
		s.url, s.key = ready.URL, ready.AdminKey
	case <-time.After(3 * time.Minute):
		return fail(errors.New("testserver not ready after 3 minutes"))
	}
	s.recv = newReceiver()
	return s
}

// stopShared cancels what the samples left pending (so no call holds up
// the server's drain), then stops the server.
func stopShared() {
	s := sharedSrv
	if s == nil {
		return
	}
	if s.recv != nil {
		s.recv.srv.Close()
	}
	if s.err == nil {
		s.cancelPending()
	}
	if s.stdin != nil {
		s.stdin.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

// cancelPending cancels every callback not yet final, hanging up calls in
// progress: between pages, so that one page's calls send no events into
// the next; at the end, so that no call holds up the server's drain.
func (s *shared) cancelPending() {
	for _, status := range []string{"in_progress", "scheduled"} {
		for range 50 {
			var page struct {
				Data []struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if _, err := s.api("GET", "/v1/callbacks?limit=100&status="+status, nil, &page); err != nil || len(page.Data) == 0 {
				break
			}
			for _, cb := range page.Data {
				_, _ = s.api("POST", "/v1/callbacks/"+cb.ID+"/cancel", nil, nil)
			}
		}
	}
}

// api calls the shared server as the admin; out, when not nil, gets the
// decoded answer.
func (s *shared) api(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// receiver is a webhook receiver that keeps every request and answers 204,
// or 410 Gone at a path ending in /gone.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []received
}

type received struct {
	path   string
	header http.Header
	body   []byte
}

func newReceiver() *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{path: req.URL.Path, header: req.Header.Clone(), body: b})
		r.mu.Unlock()
		if strings.HasSuffix(req.URL.Path, "/gone") {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return r
}

// wait returns the first request that satisfies ok, waiting up to d.
func (r *receiver) wait(d time.Duration, what string, ok func(received) bool) (received, error) {
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		for _, q := range r.reqs {
			if ok(q) {
				r.mu.Unlock()
				return q, nil
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			return received{}, fmt.Errorf("the receiver got no %s within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- running the pages ----

// requireTool skips the test when a program the samples need is missing,
// or fails it under CALLBACKD_REQUIRE_PEERS=1.
func requireTool(t *testing.T, bin, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err == nil {
		return
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} { // kamailio's, off a user's PATH
		if fi, err := os.Stat(filepath.Join(dir, bin)); err == nil && fi.Mode()&0o111 != 0 {
			return
		}
	}
	if os.Getenv(testpeer.EnvRequirePeers) == "1" {
		t.Fatalf("%s not installed and %s=1: install Debian package %s", bin, testpeer.EnvRequirePeers, pkg)
	}
	t.Skipf("%s not installed: skipping (apt-get install %s)", bin, pkg)
}

// tools are programs samples may run, with their Debian packages.
var tools = map[string]string{"openssl": "openssl", "kamailio": "kamailio", "python3": "python3", "node": "nodejs"}

// requireTools requires the tools a sh block runs as commands (also
// after variable assignments: PYTHONPATH=... python3).
func requireTools(t *testing.T, text string) {
	t.Helper()
	for bin, pkg := range tools {
		if regexp.MustCompile(`(^|\n|[|;&(]|\$\()\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*` + bin + `\s`).MatchString(text) {
			requireTool(t, bin, pkg)
		}
	}
}

// page is the state of one page's run: its folder, the shell's exported
// variables between blocks, and the last test block's output.
type pageRun struct {
	s       *shared
	name    string
	work    string // the samples' working directory
	state   string // export -p of the last sh block
	lastOut *string
	// lastSkipped: the last block was skipped (a program it needs is
	// missing), and so is the output after it.
	lastSkipped bool
	shFailed    bool // a shell sample or its output failed
	// outputShown: an output block follows the one being run, and is
	// checked against what it printed.
	outputShown bool
}

// concurrentRe marks a page whose samples may run at the same time as
// other such pages': they make and watch callbacks of their own and read
// nothing else of the server's state.
var concurrentRe = regexp.MustCompile(`(?m)^<!-- samples: concurrent -->$`)

// TestSamples runs or checks every marked block of every page, in order,
// against one server. The pages run one after another, and then those
// marked <!-- samples: concurrent --> all at once.
func TestSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("samples need a server; not in -short")
	}
	requireTool(t, "sh", "dash")
	requireTool(t, "curl", "curl")
	requireTool(t, "jq", "jq") // nearly every page's samples
	type page struct {
		name       string
		blocks     []block
		concurrent bool
	}
	var serial, concurrent []page
	for _, name := range pages(t) {
		text := readPage(t, name)
		blocks, err := parseBlocks(name, text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(blocks, func(b block) bool { return b.marker.kind == "test" || b.marker.kind == "file" }) {
			continue
		}
		if concurrentRe.MatchString(text) {
			concurrent = append(concurrent, page{name, blocks, true})
		} else {
			serial = append(serial, page{name, blocks, false})
		}
	}
	for _, pg := range append(serial, concurrent...) {
		t.Run(strings.TrimSuffix(pageName(pg.name), ".md"), func(t *testing.T) {
			// What the pages before left pending is canceled, so that
			// their calls send no events into this one. A concurrent page
			// does it before it waits for the serial pages to finish
			// (t.Parallel), so that it cancels none of its peers' calls.
			server(t).cancelPending()
			if pg.concurrent {
				t.Parallel()
			}
			runPage(t, server(t), pg.name, pg.blocks)
		})
	}
}

// runPage runs a page's blocks in order in a folder of its own.
func runPage(t *testing.T, s *shared, name string, blocks []block) {
	t.Helper()
	dir := t.TempDir()
	p := &pageRun{s: s, name: name, work: filepath.Join(dir, "work"), state: filepath.Join(dir, "state.sh")}
	if err := os.Mkdir(p.work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.state, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Samples run as if from the repository's root; "callbackd" is the
	// repository itself, as a checkout beside a module of one's own
	// (../callbackd from a folder made there).
	links := map[string]string{"configs": "configs", "testdata": "testdata", "clients": "clients", "callbackd": "."}
	// A js sample may import the client by its package's name, as after
	// npm install ./clients/js.
	links[filepath.Join("node_modules", "@callbackd", "client")] = "clients/js"
	for link, target := range links {
		path := filepath.Join(p.work, link)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(repoPath(t, target), path); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range blocks {
		p.outputShown = i+1 < len(blocks) && blocks[i+1].marker.kind == "output"
		if b.marker.kind == "" || b.marker.kind == "not run" {
			continue
		}
		// Shell blocks build on the ones before; the other checks
		// stand alone.
		shell := b.lang == "sh" || b.marker.kind == "output"
		if shell && p.shFailed {
			t.Logf("%s: not run after an earlier sample failed", b)
			continue
		}
		// A subtest per block, so that a missing program skips
		// only the blocks that need it.
		ok := t.Run(fmt.Sprintf("%s:%d", cmp.Or(b.lang, "text"), b.line), func(t *testing.T) {
			defer func() { p.lastSkipped = t.Skipped() }()
			p.run(t, b)
		})
		p.shFailed = p.shFailed || shell && !ok
	}
}

func (p *pageRun) run(t *testing.T, b block) {
	t.Helper()
	switch b.marker.kind {
	case "not run", "":
		return
	case "output":
		if p.lastOut == nil && p.lastSkipped {
			t.Skip("the sample before it was skipped")
		}
		if p.lastOut == nil {
			t.Errorf("%s: output without a test block before it", b)
			return
		}
		if err := matchOutput(b.text, *p.lastOut); err != nil {
			t.Errorf("%s: %v\n--- want (… matches anything)\n%s--- got\n%s", b, err, b.text, *p.lastOut)
		}
		p.lastOut = nil
		return
	case "file":
		checkData(t, b)
		p.writeFile(t, b.marker.arg, b.text)
		return
	}
	p.lastOut = nil
	kind, arg, _ := strings.Cut(b.marker.arg, " ")
	switch kind {
	case "":
		switch b.lang {
		case "sh":
			requireTools(t, b.text)
			out := p.sh(t, b)
			p.checkNoProblem(t, b, out)
			p.lastOut = &out
		case "python", "js":
			out := p.program(t, b)
			p.lastOut = &out
		default:
			checkData(t, b)
		}
	case "config":
		checkConfig(t, b, true)
	case "excerpt":
		data, err := os.ReadFile(filepath.Join("..", arg))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), b.text) {
			t.Errorf("%s: not a verbatim excerpt of %s", b, arg)
		}
	case "verify":
		checkVerify(t, p.s, b)
	case "receiver":
		p.checkReceiver(t, b)
	case "webhook-body":
		checkWebhookBody(t, p.s, b)
	case "log":
		checkLogLines(t, p.s, b)
	case "window":
		var w schedule.Window
		if err := json.Unmarshal([]byte(b.text), &w); err != nil {
			t.Errorf("%s: not a valid window: %v", b, err)
		}
	case "retry":
		var pol schedule.Policy
		if err := json.Unmarshal([]byte(b.text), &pol); err != nil {
			t.Errorf("%s: not a valid retry policy: %v", b, err)
		}
	case "backup":
		requireTools(t, b.text)
		out := p.sh(t, b)
		p.checkNoProblem(t, b, out)
		p.lastOut = &out
		checkBackup(t, b, filepath.Join(p.work, arg))
	}
}

// checkNoProblem fails a shell sample that printed an API error no output
// block shows: curl -s exits 0 on a 4xx, and a reader would copy a sample
// that no longer works.
func (p *pageRun) checkNoProblem(t *testing.T, b block, out string) {
	t.Helper()
	if !p.outputShown && strings.Contains(out, "urn:callbackd:problem:") {
		t.Errorf("%s: printed an API error, and no output block after it shows one:\n%s", b, tail(out, 2000))
	}
}

// checkData checks a json block parses, a yaml block loads as (part of)
// a configuration file, and a go block is gofmt'ed.
func checkData(t *testing.T, b block) {
	t.Helper()
	switch b.lang {
	case "go":
		checkGofmt(t, b)
	case "json":
		if !json.Valid([]byte(b.text)) {
			var v any
			t.Errorf("%s: not JSON: %v", b, json.Unmarshal([]byte(b.text), &v))
		}
	case "yaml":
		checkConfig(t, b, false)
	}
}

// checkGofmt checks that a go block is as gofmt prints it.
func checkGofmt(t *testing.T, b block) {
	t.Helper()
	src, err := format.Source([]byte(b.text))
	if err != nil {
		t.Errorf("%s: %v", b, err)
	} else if string(src) != b.text {
		t.Errorf("%s: not gofmt'ed; gofmt prints:\n%s", b, src)
	}
}

var envRefRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// fakeEnv sets the variables a configuration sample refers to as ${NAME},
// and no other.
func fakeEnv(text string) func(string) (string, bool) {
	refs := map[string]bool{}
	for _, m := range envRefRe.FindAllStringSubmatch(text, -1) {
		refs[m[1]] = true
	}
	return func(name string) (string, bool) {
		if refs[name] {
			return "docs-sample-value-0123456789abcdef", true
		}
		return "", false
	}
}

// checkConfig loads a yaml block with the configuration loader: unknown
// keys and wrong types fail; a whole file must also validate.
func checkConfig(t *testing.T, b block, whole bool) {
	t.Helper()
	c, err := config.Parse(b.String(), []byte(b.text), fakeEnv(b.text))
	if err != nil {
		t.Errorf("%s: %v", b, err)
		return
	}
	if whole {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}

// sh runs a block with sh in the page's folder, with the variables the
// page's earlier blocks exported, and returns its output.
func (p *pageRun) sh(t *testing.T, b block) string {
	t.Helper()
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	script := ". " + q(p.state) + "\nset -eu\nset -a\n" + p.localize(b.text) + "export -p > " + q(p.state) + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Dir = p.work
	cmd.Env = p.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	// Whatever the block started in the background goes with it.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Errorf("%s: sh: %v after %v\n--- script\n%s--- stdout\n%s--- stderr\n%s--- server log (tail)\n%s",
			b, err, time.Since(start).Round(time.Millisecond), b.text, stdout.String(), stderr.String(), tail(p.s.logText(), 3000))
	}
	return strings.ReplaceAll(stdout.String(), "\r\n", "\n")
}

// demoKey is the admin key the pages' "make run" samples start the server
// with.
const demoKey = "demo-admin-key-0123456789abcdef"

// localize points a sample written for the server of "make run" (on
// 127.0.0.1:8080 or localhost:8080, with the demo admin key) at the test
// server.
func (p *pageRun) localize(text string) string {
	hostPort := strings.TrimPrefix(p.s.url, "http://")
	return strings.NewReplacer(
		"http://127.0.0.1:8080", p.s.url,
		"http://localhost:8080", p.s.url,
		"127.0.0.1:8080", hostPort,
		"localhost:8080", hostPort,
		demoKey, p.s.key,
	).Replace(text)
}

// program runs a python or js block as a program in the page's folder (a
// python one with PYTHONPATH=clients/python, a js one as an ES module that
// may import the client as @callbackd/client) and returns its output.
func (p *pageRun) program(t *testing.T, b block) string {
	t.Helper()
	var cmd []string
	env := p.env()
	switch b.lang {
	case "python":
		requireTool(t, "python3", "python3")
		p.writeFile(t, "sample.py", p.localize(b.text))
		cmd = []string{"python3", "sample.py"}
		env = append(env, "PYTHONPATH=clients/python")
	case "js":
		requireTool(t, "node", "nodejs")
		p.writeFile(t, "sample.mjs", p.localize(b.text))
		cmd = []string{"node", "sample.mjs"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Dir = p.work
	c.Env = env
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	start := time.Now()
	if err := c.Run(); err != nil {
		t.Errorf("%s: %s: %v after %v\n--- program\n%s--- stdout\n%s--- stderr\n%s--- server log (tail)\n%s",
			b, cmd[0], err, time.Since(start).Round(time.Millisecond), b.text, stdout.String(), stderr.String(), tail(p.s.logText(), 3000))
	}
	return strings.ReplaceAll(stdout.String(), "\r\n", "\n")
}

func (p *pageRun) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CALLBACKD_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return append(env,
		// callbackd first; kamailio lives in /usr/sbin.
		"PATH="+strings.Join([]string{p.s.binDir, os.Getenv("PATH"), "/usr/sbin", "/sbin"}, string(os.PathListSeparator)),
		"CALLBACKD_URL="+p.s.url,
		"CALLBACKD_API_KEY="+p.s.key,
		"RECEIVER_URL="+p.s.recv.srv.URL+"/"+strings.TrimSuffix(pageName(p.name), ".md"),
		// A Go sample's module finds this checkout's dependencies in the
		// module cache, never on the network. With the proxy off the
		// checksum database would be asked directly, which a fresh machine
		// can't reach; the cache holds only modules this checkout's go.sum
		// already verified.
		"GOPROXY=off",
		"GOSUMDB=off",
		// Python samples import clients/python from the checkout: no
		// __pycache__ left in it.
		"PYTHONDONTWRITEBYTECODE=1",
	)
}

func tail(s string, n int) string {
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// matchOutput compares got with want, in which "…" matches any text.
func matchOutput(want, got string) error {
	want = strings.TrimRight(want, "\n")
	got = strings.TrimRight(got, "\n")
	parts := strings.Split(want, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re, err := regexp.Compile(`(?s)\A` + strings.Join(parts, `.*?`) + `\z`)
	if err != nil {
		return err
	}
	if !re.MatchString(got) {
		return errors.New("output differs")
	}
	return nil
}

// ---- webhook verification ----

// verifyCase is one call of a verify snippet and the answer it must give.
type verifyCase struct {
	Name      string            `json:"name"`
	Secret    string            `json:"secret"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"` // base64
	Tolerance int64             `json:"tolerance,omitempty"`
	Want      bool              `json:"-"`
}

// The Standard Webhooks specification's test vector.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var (
	deliveryOnce sync.Once
	delivered    received
	deliveredSec string
	deliveryErr  error
)

// realDelivery is a ping the server signed and sent to the receiver, and
// the endpoint's secret.
func realDelivery(t *testing.T, s *shared) (received, string) {
	t.Helper()
	deliveryOnce.Do(func() {
		var ep struct{ ID, Secret string }
		if _, deliveryErr = s.api("POST", "/v1/webhooks", map[string]any{
			"url": s.recv.srv.URL + "/verify", "event_types": []string{"callback.canceled"}, "description": "docs verify test",
		}, &ep); deliveryErr != nil {
			return
		}
		deliveredSec = ep.Secret
		if _, deliveryErr = s.api("POST", "/v1/webhooks/"+ep.ID+"/test", nil, nil); deliveryErr != nil {
			return
		}
		delivered, deliveryErr = s.recv.wait(10*time.Second, "ping at /verify", func(r received) bool { return r.path == "/verify" })
		_, _ = s.api("DELETE", "/v1/webhooks/"+ep.ID, nil, nil)
	})
	if deliveryErr != nil {
		t.Fatal(deliveryErr)
	}
	return delivered, deliveredSec
}

func verifyCases(t *testing.T, s *shared) []verifyCase {
	t.Helper()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	vector := map[string]string{"webhook-id": vectorID, "webhook-timestamp": fmt.Sprint(vectorTS), "webhook-signature": vectorSig}
	const aLongTime = 1 << 40
	real, secret := realDelivery(t, s)
	rh := map[string]string{}
	for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		rh[h] = real.header.Get(h)
	}
	rotated := map[string]string{}
	for k, v := range rh {
		rotated[k] = v
	}
	rotated["webhook-signature"] = "v1,Zm9yZ2VkZm9yZ2VkZm9yZ2VkZm9yZ2VkZm9yZ2VkZm8= " + rh["webhook-signature"]
	otherSecret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	return []verifyCase{
		{Name: "test vector", Secret: vectorSecret, Headers: vector, Body: b64(vectorBody), Tolerance: aLongTime, Want: true},
		{Name: "test vector, 2021 is too old", Secret: vectorSecret, Headers: vector, Body: b64(vectorBody), Want: false},
		{Name: "test vector, body changed", Secret: vectorSecret, Headers: vector, Body: b64(`{"test": 2432232315}`), Tolerance: aLongTime, Want: false},
		{Name: "a real delivery", Secret: secret, Headers: rh, Body: base64.StdEncoding.EncodeToString(real.body), Want: true},
		{Name: "a real delivery, two signatures", Secret: secret, Headers: rotated, Body: base64.StdEncoding.EncodeToString(real.body), Want: true},
		{Name: "a real delivery, another secret", Secret: otherSecret, Headers: rh, Body: base64.StdEncoding.EncodeToString(real.body), Want: false},
		{Name: "a real delivery, body changed", Secret: secret, Headers: rh, Body: base64.StdEncoding.EncodeToString(append(real.body, ' ')), Want: false},
	}
}

const pythonDriver = `

import base64 as _b64, json as _json, sys as _sys
for _c in _json.load(_sys.stdin):
    _kw = {"tolerance": _c["tolerance"]} if _c.get("tolerance") else {}
    print(_json.dumps(verify(_c["secret"], _c["headers"], _b64.b64decode(_c["body"]), **_kw)))
`

const nodeDriver = `

for (const c of JSON.parse(require("node:fs").readFileSync(0, "utf8"))) {
  const args = [c.secret, c.headers, Buffer.from(c.body, "base64")];
  if (c.tolerance) args.push(c.tolerance);
  console.log(JSON.stringify(verify(...args)));
}
`

// checkVerify runs a python or js verify function against the
// specification's test vector and a real delivery.
func checkVerify(t *testing.T, s *shared, b block) {
	t.Helper()
	var bin, file, driver string
	switch b.lang {
	case "python":
		requireTool(t, "python3", "python3")
		bin, file, driver = "python3", "verify.py", pythonDriver
	case "js":
		requireTool(t, "node", "nodejs")
		bin, file, driver = "node", "verify.cjs", nodeDriver
	}
	cases := verifyCases(t, s)
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, []byte(b.text+driver), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, path)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v\n%s", err, ee.Stderr)
		}
		t.Fatalf("%s: %s: %v", b, bin, err)
	}
	got := strings.Fields(string(out))
	if len(got) != len(cases) {
		t.Fatalf("%s: %d answers for %d cases: %q", b, len(got), len(cases), out)
	}
	for i, c := range cases {
		if got[i] != fmt.Sprint(c.Want) {
			t.Errorf("%s: %s: verify said %s, want %v", b, c.Name, got[i], c.Want)
		}
	}
}

// receiverFiles are the files a receiver program is saved as, by
// language: a python or js one in the page's folder (the samples' "root
// of the repository", for its imports of the clients), a go one in a
// module of its own.
var receiverFiles = map[string]string{"go": "main.go", "python": "receiver.py", "js": "receiver.mjs"}

// checkReceiver runs a webhook receiver program (go, python or js) with
// WEBHOOK_SECRET, LISTEN (host:port) and PORT set, points a webhook
// endpoint at it, and checks that it accepts a real delivery (and prints
// something of it) and refuses a forged one. A go one is built in a module
// of its own that uses this checkout; a python one runs with
// PYTHONPATH=clients/python, a js one as an ES module beside clients/.
func (p *pageRun) checkReceiver(t *testing.T, b block) {
	t.Helper()
	s := p.s
	var cmd *exec.Cmd
	switch b.lang {
	case "go":
		checkGofmt(t, b)
		// The module's own test vector check of the Verify the program uses.
		h := http.Header{}
		h.Set(webhook.HeaderID, vectorID)
		h.Set(webhook.HeaderTimestamp, fmt.Sprint(vectorTS))
		h.Set(webhook.HeaderSignature, vectorSig)
		if err := webhook.Verify(vectorSecret, h, []byte(vectorBody), 0, time.Unix(vectorTS, 0)); err != nil {
			t.Errorf("webhook.Verify refuses the test vector: %v", err)
		}
		cmd = exec.Command(buildGoProgram(t, b))
		cmd.Env = os.Environ()
	case "python":
		requireTool(t, "python3", "python3")
		p.writeFile(t, receiverFiles[b.lang], b.text)
		cmd = exec.Command("python3", receiverFiles[b.lang])
		cmd.Dir = p.work
		cmd.Env = append(p.env(), "PYTHONPATH=clients/python")
	case "js":
		requireTool(t, "node", "nodejs")
		p.writeFile(t, receiverFiles[b.lang], b.text)
		cmd = exec.Command("node", receiverFiles[b.lang])
		cmd.Dir = p.work
		cmd.Env = p.env()
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	ln.Close()
	url := "http://" + addr + "/hooks/callbackd"
	var ep struct{ ID, Secret string }
	if _, err := s.api("POST", "/v1/webhooks", map[string]any{"url": url, "event_types": []string{"callback.canceled"}, "description": "docs receiver test"}, &ep); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.api("DELETE", "/v1/webhooks/"+ep.ID, nil, nil) })

	var log bytes.Buffer
	var logMu sync.Mutex
	cmd.Env = append(cmd.Env, "WEBHOOK_SECRET="+ep.Secret, "LISTEN="+addr, "PORT="+port)
	cmd.Stdout = &lockedWriter{mu: &logMu, w: &log}
	cmd.Stderr = cmd.Stdout
	logText := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return log.String()
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the receiver does not listen on %s: %s", b, addr, logText())
		}
		time.Sleep(20 * time.Millisecond)
	}

	if _, err := s.api("POST", "/v1/webhooks/"+ep.ID+"/test", nil, nil); err != nil {
		t.Fatal(err)
	}
	type delivery struct {
		EventType string `json:"event_type"`
		Status    string `json:"status"`
		Attempts  []struct {
			StatusCode int `json:"status_code"`
		} `json:"attempts"`
	}
	var status string
	var codes []int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var page struct {
			Data []delivery `json:"data"`
		}
		if _, err := s.api("GET", "/v1/webhooks/"+ep.ID+"/deliveries", nil, &page); err != nil {
			t.Fatal(err)
		}
		// The ping; a callback canceled meanwhile (by a page running
		// at the same time) may have been delivered too.
		i := slices.IndexFunc(page.Data, func(d delivery) bool { return d.EventType == "ping" })
		if i >= 0 && page.Data[i].Status != "pending" {
			status, codes = page.Data[i].Status, nil
			for _, a := range page.Data[i].Attempts {
				codes = append(codes, a.StatusCode)
			}
			break
		}
	}
	if status != "succeeded" {
		t.Errorf("%s: the ping to the receiver: %q, attempts %v\n%s", b, status, codes, logText())
	} else if !strings.Contains(logText(), "ping") {
		t.Errorf("%s: the receiver printed nothing of the ping it accepted:\n%s", b, logText())
	}

	// A forged request: signed with another key.
	body := []byte(`{"id":"evt_forged","type":"ping"}`)
	now := time.Now()
	sig, err := webhook.Sign("whsec_"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)), "evt_forged", now, body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set(webhook.HeaderID, "evt_forged")
	req.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(webhook.HeaderSignature, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("%s: a forged request got %d, want it refused", b, resp.StatusCode)
	}
}

// writeFile writes a file of a sample in the page's folder.
func (p *pageRun) writeFile(t *testing.T, name, text string) {
	t.Helper()
	path := filepath.Join(p.work, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildGoProgram builds a go block, as main.go of a module of its own that
// uses this checkout (a replace directive, and the checkout's go.sum), from
// the module cache alone, and returns the binary's path.
func buildGoProgram(t *testing.T, b block) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module example.com/sample\n\ngo 1.26\n\nrequire github.com/callbackd/callbackd v0.0.0\n\nreplace github.com/callbackd/callbackd => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(b.text)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "sample")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: go build: %v\n%s", b, err, out)
	}
	return bin
}

// checkWebhookBody checks that an example webhook body has the shape of a
// real one of the same type (and, for call events, leg) that the receiver
// got: every key of the example, except "...", is in the real body with a
// value of the same JSON kind.
func checkWebhookBody(t *testing.T, s *shared, b block) {
	t.Helper()
	var example map[string]any
	if err := json.Unmarshal([]byte(b.text), &example); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	typ, _ := example["type"].(string)
	leg := ""
	if d, ok := example["data"].(map[string]any); ok {
		if c, ok := d["call"].(map[string]any); ok {
			leg, _ = c["leg"].(string)
		}
	}
	real, err := s.recv.wait(20*time.Second, typ+" webhook", func(r received) bool {
		var v struct {
			Type string `json:"type"`
			Data struct {
				Call struct {
					Leg string `json:"leg"`
				} `json:"call"`
			} `json:"data"`
		}
		return json.Unmarshal(r.body, &v) == nil && v.Type == typ && v.Data.Call.Leg == leg
	})
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var got map[string]any
	if err := json.Unmarshal(real.body, &got); err != nil {
		t.Fatal(err)
	}
	for _, problem := range sameShape("", example, got) {
		t.Errorf("%s: %s (a real %s body: %s)", b, problem, typ, real.body)
	}
}

func sameShape(path string, want, got any) []string {
	kind := func(v any) string { return fmt.Sprintf("%T", v) }
	if kind(want) != kind(got) {
		return []string{fmt.Sprintf("%s is a %s in the example, a %s in the real body", path, kind(want), kind(got))}
	}
	var out []string
	if w, ok := want.(map[string]any); ok {
		g := got.(map[string]any)
		for k, v := range w {
			if k == "..." {
				continue
			}
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s is not in the real body", path, k))
				continue
			}
			out = append(out, sameShape(path+"."+k, v, gv)...)
		}
	}
	return out
}

// checkBackup opens a backup file as a store: a bbolt file of this
// build's schema.
func checkBackup(t *testing.T, b block, path string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Errorf("%s: the backup does not open as a store: %v", b, err)
		return
	}
	defer db.Close()
	counts, err := db.CountByStatus()
	if err != nil {
		t.Errorf("%s: reading the backup: %v", b, err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	if n == 0 {
		t.Errorf("%s: the backup holds no callbacks", b)
	}
}

// repoPath and readRepoFile reach files of the repository from docs/.
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseLogLine reads a line of slog's text format into its attributes.
func parseLogLine(l string) (map[string]string, error) {
	out := map[string]string{}
	for l = strings.TrimSpace(l); l != ""; l = strings.TrimLeft(l, " ") {
		k, rest, ok := strings.Cut(l, "=")
		if !ok || k == "" || strings.Contains(k, " ") {
			return nil, fmt.Errorf("not key=value at %q", l)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for ; end < len(rest) && rest[end] != '"'; end++ {
				if rest[end] == '\\' {
					end++
				}
			}
			if end >= len(rest) {
				return nil, fmt.Errorf("unterminated quote in %q", l)
			}
			var err error
			if v, err = strconv.Unquote(rest[:end+1]); err != nil {
				return nil, err
			}
			rest = rest[end+1:]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		out[k] = v
		l = rest
	}
	return out, nil
}

// checkLogLines checks example log lines against the shared server's log:
// for each, a real record with the same message and level has every key
// the example shows.
func checkLogLines(t *testing.T, s *shared, b block) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
		want, err := parseLogLine(l)
		if err != nil || want["msg"] == "" || want["level"] == "" {
			t.Errorf("%s: %q: not a text log line with level and msg (%v)", b, l, err)
			continue
		}
		var last map[string]any
		found := false
		for deadline := time.Now().Add(20 * time.Second); !found && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			for _, rl := range strings.Split(s.logText(), "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(rl), &rec) != nil || rec["msg"] != want["msg"] || rec["level"] != want["level"] {
					continue
				}
				last = rec
				found = true
				for k := range want {
					if _, ok := rec[k]; !ok {
						found = false
					}
				}
				if found {
					break
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s %q record in the server's log with the keys of %q (last seen: %v)", b, want["level"], want["msg"], l, last)
		}
	}
}

func (s *shared) logText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}
