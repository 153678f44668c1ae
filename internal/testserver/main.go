// Command testserver runs a real "callbackd serve" on loopback with the
// sandbox trunk, for test suites that are not written in Go (the Python and
// JavaScript clients). Run it from the repository's root:
//
//	go run ./internal/testserver [-bin path/to/callbackd]
//
// Once the API answers it prints one JSON line to stdout:
//
//	{"url":"http://127.0.0.1:PORT","admin_key":"...","numbers":{"echo":"+15550000002",...}}
//
// and serves until its stdin closes or it gets SIGINT or SIGTERM; then it
// stops the server (SIGTERM), removes its files and exits. The server's log
// goes to stderr. Webhooks may go to loopback receivers and are retried
// within a second, so client tests can run their own receivers.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/callbackd/callbackd/sandbox"
)

func main() {
	bin := flag.String("bin", "", "the callbackd binary (default: build ./cmd/callbackd)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("testserver: ")
	if err := run(*bin); err != nil {
		log.Fatal(err)
	}
}

func run(bin string) error {
	dir, err := os.MkdirTemp("", "callbackd-testserver-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "callbackd")
		build := exec.Command("go", "build", "-o", bin, "./cmd/callbackd")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build callbackd (run from the repository's root): %w", err)
		}
	}
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	adminKey := "cbk_test_" + hex.EncodeToString(key)
	cfg, apiURL, err := writeConfig(dir, adminKey)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // a parent that goes away closes our stdin
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()

	srv := exec.Command(bin, "serve", "--config", cfg)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start callbackd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()

	if err := waitReady(ctx, apiURL, exited); err != nil {
		_ = srv.Process.Signal(syscall.SIGTERM)
		<-exited
		return err
	}
	numbers := map[string]string{}
	for _, n := range sandbox.Numbers {
		numbers[n.Name] = n.Number
	}
	line, _ := json.Marshal(map[string]any{"url": apiURL, "admin_key": adminKey, "numbers": numbers})
	fmt.Printf("%s\n", line)

	select {
	case err := <-exited:
		return fmt.Errorf("callbackd exited early: %v", err)
	case <-ctx.Done():
	}
	_ = srv.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = srv.Process.Kill()
		<-exited
	}
	return nil
}

// writeConfig writes a configuration on free loopback ports and returns
// its path and the API's base URL.
func writeConfig(dir, adminKey string) (path, apiURL string, err error) {
	const ip = "127.0.0.1"
	var ports [3]int
	for i := range ports {
		if ports[i], err = freePort(ip); err != nil {
			return "", "", err
		}
	}
	lo, err := freeRange(ip, 40)
	if err != nil {
		return "", "", err
	}
	sip, sbx, api := ports[0], ports[1], ports[2]
	yaml := fmt.Sprintf(`sip:
  listen: %[1]s:%[2]d
  transports: [udp]
trunks:
  - name: sandbox
    host: %[1]s
    port: %[3]d
media:
  ip: %[1]s
  port_min: %[4]d
  port_max: %[5]d
  port_hold: 1s
sandbox:
  enabled: true
  listen: %[1]s:%[3]d
bridge:
  trunk: sandbox
  rep_ring_timeout: 5s
  customer_ring_timeout: 5s
api:
  listen: %[1]s:%[6]d
  admin_key: %[7]s
store:
  path: %[8]s
guardrails:
  allow: ["+1"]
  per_number_per_day: -1
webhooks:
  retry_schedule: [0s, 100ms, 200ms, 500ms, 1s]
  timeout: 2s
  allow_private_urls: true
log:
  level: info
  format: json
`, ip, sip, sbx, lo, lo+39, api, adminKey, filepath.Join(dir, "callbackd.db"))
	path = filepath.Join(dir, "callbackd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return "", "", err
	}
	return path, fmt.Sprintf("http://%s:%d", ip, api), nil
}

// freePort returns a port free for both UDP and TCP.
func freePort(ip string) (int, error) {
	for range 50 {
		u, err := net.ListenPacket("udp", ip+":0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
		u.Close()
		if err == nil {
			t.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// freeRange returns the first of n free UDP ports in a row, even, in
// 30000..59999.
func freeRange(ip string, n int) (int, error) {
	for range 100 {
		r, _ := rand.Int(rand.Reader, big.NewInt(15000))
		lo := 30000 + 2*int(r.Int64())
		if lo+n > 60000 {
			continue
		}
		var open []net.PacketConn
		ok := true
		for p := lo; p < lo+n; p++ {
			c, err := net.ListenPacket("udp", fmt.Sprintf("%s:%d", ip, p))
			if err != nil {
				ok = false
				break
			}
			open = append(open, c)
		}
		for _, c := range open {
			c.Close()
		}
		if ok {
			return lo, nil
		}
	}
	return 0, errors.New("no free range of UDP ports")
}

func waitReady(ctx context.Context, base string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("callbackd exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("callbackd not ready after 30s")
}
