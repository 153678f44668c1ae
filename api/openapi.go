package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // for the OpenAPI document
	"encoding/hex"
	"net/http"
	"time"
)

// openAPIDocument is the OpenAPI 3.1 description of this API, kept by hand
// beside the code. openapi_test.go holds it to the router (every route
// documented, every documented route served) and to real responses, so the
// two cannot drift apart unnoticed.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag lets clients and tools that poll the document revalidate it
// without downloading it again; it changes only with the binary.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// serveOpenAPI serves the document. It needs no API key: tools read it to
// learn how to get and use one.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", JSONContentType)
	w.Header().Set("ETag", openAPIETag)
	// ServeContent answers If-None-Match and HEAD; the zero time sends no
	// Last-Modified, since the embedded file has no meaningful one.
	http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(openAPIDocument))
}
