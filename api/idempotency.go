package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/callbackd/callbackd/store"
)

// IdempotencyHeader is the request header naming a POST's idempotency key;
// ReplayedHeader marks a response that is the stored first one.
const (
	IdempotencyHeader = "Idempotency-Key"
	ReplayedHeader    = "Idempotent-Replayed"
	maxIdemKeyLen     = 255
)

// idemState is a reserved idempotency record the handler may complete
// itself (POST /v1/callbacks does, in the transaction that creates the
// callback) and whose stored body it may replace (POST /v1/api-keys keeps
// the secret out of the store).
type idemState struct {
	scope, key string
	storeBody  []byte // nil: the response body as sent
	// committed: the handler's own transaction completed the record, so
	// the middleware's write (a no-op costing an fsync) is skipped.
	committed bool
}

func idemOf(r *http.Request) *idemState {
	st, _ := r.Context().Value(idemKey).(*idemState)
	return st
}

// idempotent makes a POST safe to retry. With an Idempotency-Key header it
// reserves the key for the API key (or an inbound hook's trigger: the
// scope) and a hash of the method, path and body: the first request runs
// and its 2xx response is kept for 24 hours; a later one with the same
// key and body gets that response again with Idempotent-Replayed: true and
// nothing runs; one with another body gets 422; one while the first still
// runs gets 409. A non-2xx response is not kept, so the client may fix the
// request and retry with the same key.
//
// The response is buffered and sent after the record is complete, so a
// client retrying as soon as it reads the response is answered from the
// record, never with 409.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(IdempotencyHeader)
		if r.Method != http.MethodPost || key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if err := checkIdemKey(key); err != nil {
			s.fail(w, r, err)
			return
		}
		scope := idemScope(r)
		if scope == "" { // routes with idempotency all authenticate
			s.fail(w, r, internal(errors.New("idempotency without an API key or trigger")))
			return
		}
		body, err := s.readBody(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h := requestHash(r.Method, r.URL.Path, body)

		rec, err := s.keys.ReserveIdempotency(scope, key, h)
		switch {
		case errors.Is(err, store.ErrIdempotencyMismatch):
			s.writeProblem(w, r, newProblem(CodeIdempotencyMismatch, IdempotencyHeader,
				"this Idempotency-Key was used with another request; use a new key for a new request"))
			return
		case errors.Is(err, store.ErrIdempotencyInFlight):
			s.writeProblem(w, r, newProblem(CodeIdempotencyInFlight, IdempotencyHeader,
				"a request with this Idempotency-Key is still running; retry when it has finished"))
			return
		case err != nil:
			s.fail(w, r, internal(err))
			return
		case rec != nil:
			replay(w, rec)
			return
		}

		st := &idemState{scope: scope, key: key}
		rw := &bufferWriter{header: http.Header{}}
		done := false
		defer func() {
			// A panic must not leave the key reserved until a restart.
			if !done {
				s.release(r, st)
			}
		}()
		next.ServeHTTP(rw, r.WithContext(withIdem(r.Context(), st)))
		done = true

		status := rw.code()
		switch {
		case st.committed:
		case status >= 200 && status < 300:
			stored := st.storeBody
			if stored == nil {
				stored = rw.body.Bytes()
			}
			if err := s.keys.CompleteIdempotency(st.scope, st.key, status, rw.header.Get("Content-Type"), stored); err != nil {
				// The work is done and the client gets its answer; a
				// retry will run it again, which the client asked to
				// avoid, but answering 500 for done work is worse.
				s.log.Error("storing an idempotent response", "route", routeOf(r), "key_id", scope, "err", err)
				s.release(r, st)
			}
		default:
			s.release(r, st)
		}
		rw.sendTo(w)
	})
}

// idemScope is whose idempotency keys a request's are: its API key's, or
// on an inbound hook, which has none, its trigger's.
func idemScope(r *http.Request) string {
	if k := keyOf(r); k != nil {
		return k.ID
	}
	if h := hookOf(r); h != nil {
		return h.triggerID
	}
	return ""
}

func (s *Server) release(r *http.Request, st *idemState) {
	if err := s.keys.ReleaseIdempotency(st.scope, st.key); err != nil {
		s.log.Error("releasing an idempotency key", "route", routeOf(r), "key_id", st.scope, "err", err)
	}
}

// replay sends a stored response.
func replay(w http.ResponseWriter, rec *store.Idempotency) {
	if rec.ContentType != "" {
		w.Header().Set("Content-Type", rec.ContentType)
	}
	w.Header().Set(ReplayedHeader, "true")
	w.Header().Set("Content-Length", strconv.Itoa(len(rec.Body)))
	w.WriteHeader(rec.Status)
	w.Write(rec.Body)
}

// checkIdemKey accepts 1 to 255 printable ASCII characters: enough for a
// UUID or a client's own request ID, and safe to store and log.
func checkIdemKey(key string) error {
	if len(key) > maxIdemKeyLen {
		return newProblem(CodeValidation, IdempotencyHeader, "at most %d characters", maxIdemKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return newProblem(CodeValidation, IdempotencyHeader, "printable ASCII characters only")
		}
	}
	return nil
}

// requestHash identifies a request for the idempotency check. The parts
// are length-prefixed so no two different requests hash alike by moving
// bytes between them.
func requestHash(method, path string, body []byte) [32]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(method), []byte(path), body} {
		h.Write([]byte(strconv.Itoa(len(part)) + ":"))
		h.Write(part)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// bufferWriter holds a response until the idempotency record is written.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferWriter) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

func (b *bufferWriter) sendTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.code())
	w.Write(b.body.Bytes())
}

func withIdem(ctx context.Context, st *idemState) context.Context {
	return context.WithValue(ctx, idemKey, st)
}
