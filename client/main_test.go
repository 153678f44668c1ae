package client_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/client"
)

// The tests run against a real callbackd: internal/testserver builds and
// serves one on loopback with the sandbox trunk.
var server struct {
	URL      string            `json:"url"`
	AdminKey string            `json:"admin_key"`
	Numbers  map[string]string `json:"numbers"`
}

func TestMain(m *testing.M) {
	stop, err := startServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop(code != 0)
	os.Exit(code)
}

// startServer runs "go run ./internal/testserver" from the repository's
// root and reads its one line. stop closes its stdin, which ends it, and
// prints the server's log when asked to.
func startServer() (stop func(printLog bool), err error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp("", "callbackd-client-test-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "run", "./internal/testserver")
	cmd.Dir = root
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	stop = func(printLog bool) {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if printLog {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				fmt.Fprintf(os.Stderr, "--- callbackd log:\n%s\n", tail(b, 200))
			}
		}
		logFile.Close()
		os.Remove(logFile.Name())
	}
	line := make(chan []byte, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- bytes.Clone(sc.Bytes())
		}
		close(line)
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case l, ok := <-line:
		if ok {
			if err := json.Unmarshal(l, &server); err == nil && server.URL != "" {
				return stop, nil
			}
			err = fmt.Errorf("testserver printed %q", l)
		} else {
			err = errors.New("testserver exited before it was ready")
		}
		stop(true)
		return nil, err
	case <-time.After(3 * time.Minute):
		stop(true)
		return nil, errors.New("testserver not ready after 3 minutes")
	}
}

// repoRoot is the folder of the module's go.mod, above this package's.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}

func tail(b []byte, lines int) string {
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// admin is a client with the server's admin key.
func admin(t *testing.T, opts ...client.Option) *client.Client {
	t.Helper()
	return newClient(t, server.AdminKey, opts...)
}

func newClient(t *testing.T, key string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(server.URL, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// number is the sandbox's number called name (echo, hangup, busy, ...).
func number(t *testing.T, name string) string {
	t.Helper()
	n, ok := server.Numbers[name]
	if !ok {
		t.Fatalf("no sandbox number %q in %v", name, server.Numbers)
	}
	return n
}
