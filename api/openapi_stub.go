package api

import "net/http"

// serveOpenAPI is a stand-in until openapi.go lands; delete this file then.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "openapi document not yet available", http.StatusNotImplemented)
}
