package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/callbackd/callbackd/store"
)

// keyPrefix starts every API key secret, so that a leaked one is
// recognised by secret scanners and by people.
const keyPrefix = "cbk_"

// KeyPrefixLen is how much of a secret is kept in APIKey.Prefix: "cbk_"
// and eight random characters, enough to tell keys apart, far too little
// to guess the rest.
const KeyPrefixLen = 12

// NewKeySecret returns a new API key secret, "cbk_" and 32 random bytes in
// unpadded base64url, and its hash, which is all the store keeps.
func NewKeySecret() (secret string, hash [32]byte) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashKey(secret)
}

// HashKey returns the SHA-256 of a secret. A fast hash is right here: the
// secrets are 256-bit random, so there is nothing to brute-force, and the
// lookup runs on every request. The lookup is by hash, so no comparison of
// secrets takes a time that depends on them.
func HashKey(secret string) [32]byte {
	return sha256.Sum256([]byte(secret))
}

// validScopes are the scopes a key may hold.
var validScopes = []string{store.ScopeCallbacksWrite, store.ScopeCallbacksRead, store.ScopeAdmin}

// hasScope reports whether k may do what scope allows; admin allows all.
func hasScope(k *store.APIKey, scope string) bool {
	return slices.Contains(k.Scopes, scope) || slices.Contains(k.Scopes, store.ScopeAdmin)
}

// authenticate finds the key of the request's Bearer token. Missing,
// unknown and revoked keys get the same problem type; the detail tells a
// person which it was, which reveals nothing an attacker could use.
func (s *Server) authenticate(r *http.Request) (*store.APIKey, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, newProblem(CodeUnauthenticated, "", "send an API key as Authorization: Bearer <key>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, newProblem(CodeUnauthenticated, "", "the Authorization header must be Bearer <key>")
	}
	k, err := s.keys.APIKeyByHash(HashKey(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, newProblem(CodeUnauthenticated, "", "the API key is not valid")
	case err != nil:
		return nil, internal(err)
	case !k.RevokedAt.IsZero():
		return nil, newProblem(CodeUnauthenticated, "", "the API key was revoked")
	}
	return k, nil
}

// authorize wraps h so that it runs only for a key with scope. The key is
// put in the request's info for the idempotency scope and the log.
func (s *Server) authorize(scope string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if ri := infoOf(r); ri != nil {
			ri.key = k.ID
		}
		if !hasScope(k, scope) {
			s.writeProblem(w, r, newProblem(CodeForbidden, "", "the API key lacks the %s scope", scope))
			return
		}
		h.ServeHTTP(w, r.WithContext(withKey(r.Context(), k)))
	})
}
