package api

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// JSONContentType is the media type of every successful JSON response.
const JSONContentType = "application/json"

// encode renders v as the API writes it: compact JSON and a newline. The
// idempotency record of POST /v1/callbacks is rendered by the same
// function, so a replay is byte for byte the first response.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return append(b, '\n'), nil
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := encode(v)
	if err != nil {
		return internal(err)
	}
	writeBody(w, status, b)
	return nil
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", JSONContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// page is the envelope of every list.
type page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

func newPage[T any](items []T, more bool) page[T] {
	if items == nil {
		items = []T{} // [] rather than null
	}
	return page[T]{Data: items, HasMore: more}
}
