package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/store"
)

// reqInfo is what the outer middleware learns about a request from the
// inner layers: gorilla/mux keeps the matched route in a request the outer
// layer never sees, so the inner layers write it here.
type reqInfo struct {
	route string // the route's path template; "" = none matched
	key   string // the API key's ID, once authenticated
}

type ctxKey int

const (
	infoKey ctxKey = iota
	apiKeyKey
	idemKey
	bodyLimitKey
)

func infoOf(r *http.Request) *reqInfo {
	ri, _ := r.Context().Value(infoKey).(*reqInfo)
	return ri
}

// routeOf returns the request's route template for logs and metrics.
func routeOf(r *http.Request) string {
	if ri := infoOf(r); ri != nil && ri.route != "" {
		return ri.route
	}
	if rt := mux.CurrentRoute(r); rt != nil {
		if t, err := rt.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "unmatched"
}

func withKey(ctx context.Context, k *store.APIKey) context.Context {
	return context.WithValue(ctx, apiKeyKey, k)
}

// keyOf returns the authenticated API key; nil on routes without auth.
func keyOf(r *http.Request) *store.APIKey {
	k, _ := r.Context().Value(apiKeyKey).(*store.APIKey)
	return k
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe measures and logs every request, matched or not: one metrics
// sample labelled with the route template, not the path, and one log line.
// Neither records the Authorization header or the query (which may hold a
// customer's number).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey, ri)))
		d := time.Since(start)
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		route := ri.route
		if route == "" {
			route = "unmatched"
		}
		s.metrics.API(r.Method, route, code, d)
		lvl := slog.LevelDebug
		if code >= 500 {
			lvl = slog.LevelWarn
		}
		s.log.Log(r.Context(), lvl, "api request", "method", r.Method, "route", route, "path", r.URL.Path,
			"status", code, "bytes", sw.bytes, "duration", d, "key", ri.key)
	})
}

// nameRoute runs inside the router, where the matched route is known, and
// tells observe about it.
func nameRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ri := infoOf(r); ri != nil {
			if rt := mux.CurrentRoute(r); rt != nil {
				if t, err := rt.GetPathTemplate(); err == nil {
					ri.route = t
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler's panic into an internal problem (if the
// response has not started) and a logged stack, instead of a dropped
// connection. http.ErrAbortHandler keeps its meaning.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("api handler panicked", "method", r.Method, "route", routeOf(r), "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			if sw.status == 0 {
				p := internal(fmt.Errorf("panic: %v", v))
				p.cause = nil // logged above with its stack
				s.writeProblem(sw, r, p)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// errorLevel is the log level of an internal error: a client that went
// away is worth a warning, anything else an error.
func errorLevel(err error) slog.Level {
	if err == nil || isCanceled(err) || errors.Is(err, http.ErrHandlerTimeout) {
		return slog.LevelWarn
	}
	return slog.LevelError
}
