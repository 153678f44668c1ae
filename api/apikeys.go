package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/store"
)

// maxKeyName bounds an API key's name.
const maxKeyName = 100

// apiKeyInput is the body of POST /v1/api-keys.
type apiKeyInput struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// createdKey is the answer to POST /v1/api-keys: the key and, this once,
// its secret.
type createdKey struct {
	*store.APIKey
	Secret string `json:"secret"`
}

func (in *apiKeyInput) check() error {
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return newProblem(CodeValidation, "name", "required: say what the key is for")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxKeyName:
		return newProblem(CodeValidation, "name", "at most %d characters of UTF-8", maxKeyName)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return newProblem(CodeValidation, "name", "control characters are not allowed")
	case len(in.Scopes) == 0:
		return newProblem(CodeValidation, "scopes", "at least one of %s", strings.Join(validScopes, ", "))
	}
	in.Name = name
	for i, sc := range in.Scopes {
		if !slices.Contains(validScopes, sc) {
			return newProblem(CodeValidation, fmt.Sprintf("scopes[%d]", i), "unknown scope %q; known: %s", sc, strings.Join(validScopes, ", "))
		}
	}
	slices.Sort(in.Scopes)
	in.Scopes = slices.Compact(in.Scopes)
	return nil
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	b, err := s.readJSON(w, r, false)
	if err != nil {
		return err
	}
	var in apiKeyInput
	if err := decodeJSON(b, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	now := s.now().UTC()
	secret, hash := NewKeySecret()
	k := &store.APIKey{ID: store.NewID("key_", now), Name: in.Name, Prefix: secret[:KeyPrefixLen], Hash: hash,
		Scopes: in.Scopes, CreatedAt: now}
	if err := s.keys.CreateAPIKey(k); err != nil {
		return internal(fmt.Errorf("store API key: %w", err))
	}
	if st := idemOf(r); st != nil {
		// A replay must not show the secret again, and the store must not
		// keep it: the stored answer is the key without it.
		if st.storeBody, err = encode(k); err != nil {
			return internal(err)
		}
	}
	s.log.Info("API key created", "key_id", k.ID, "name", k.Name, "scopes", k.Scopes, "by", keyIDOf(r))
	return writeJSON(w, http.StatusCreated, createdKey{APIKey: k, Secret: secret})
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	if _, err := newQuery(r.URL.Query()); err != nil {
		return err
	}
	ks, err := s.keys.ListAPIKeys()
	if err != nil {
		return internal(fmt.Errorf("list API keys: %w", err))
	}
	return writeJSON(w, http.StatusOK, newPage(ks, false))
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	k, err := s.keys.RevokeAPIKey(id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newProblem(CodeNotFound, "", "no API key %q", id)
	case err != nil:
		return internal(fmt.Errorf("revoke API key %s: %w", id, err))
	}
	s.log.Info("API key revoked", "key_id", k.ID, "by", keyIDOf(r))
	return writeJSON(w, http.StatusOK, k)
}

func keyIDOf(r *http.Request) string {
	if k := keyOf(r); k != nil {
		return k.ID
	}
	return ""
}
