package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// checkTimeout bounds each readiness check, so a hung dependency makes
// /readyz answer 503 rather than hang the prober.
const checkTimeout = 2 * time.Second

type readiness struct {
	Status string            `json:"status"` // ok or unavailable
	Checks map[string]string `json:"checks"` // name -> "ok" or the error
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz runs the checks concurrently, each with a deadline.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	res := readiness{Status: "ok", Checks: make(map[string]string, len(s.checks))}
	results := make([]error, len(s.checks))
	var wg sync.WaitGroup
	for i, c := range s.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Fn(ctx) }()
			select {
			case err := <-done:
				results[i] = err
			case <-ctx.Done():
				results[i] = errors.New("no answer within " + checkTimeout.String())
			}
		})
	}
	wg.Wait()
	status := http.StatusOK
	for i, c := range s.checks {
		if err := results[i]; err != nil {
			res.Checks[c.Name] = err.Error()
			res.Status, status = "unavailable", http.StatusServiceUnavailable
		} else {
			res.Checks[c.Name] = "ok"
		}
	}
	return writeJSON(w, status, res)
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.promh == nil {
		return newProblem(CodeNotFound, "", "metrics are not enabled")
	}
	s.promh.ServeHTTP(w, r)
	return nil
}

// serveBackup streams a consistent copy of the store. Once the copy has
// begun, a failure can only cut the response short; the client sees a
// short body (its length differs from Content-Length if the size is known)
// and the log says why.
func (s *Server) serveBackup(w http.ResponseWriter, r *http.Request) error {
	if s.backup == nil {
		return newProblem(CodeNotFound, "", "backups are not enabled on this server")
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="callbackd-`+strconv.FormatInt(s.now().UTC().Unix(), 10)+`.db"`)
	w.Header().Set("Cache-Control", "no-store")
	n, err := s.backup(w)
	if err != nil {
		if n == 0 {
			w.Header().Del("Content-Disposition")
			return internal(err)
		}
		s.log.Error("backup cut short", "bytes", n, "err", err)
		panic(http.ErrAbortHandler) // tell the client the body is incomplete
	}
	s.log.Info("backup sent", "bytes", n, "by", keyIDOf(r))
	return nil
}
