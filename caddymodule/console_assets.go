package caddymodule

import (
	"embed"
	"net/http"
)

// consoleFiles are the console's page, script and style, built into the binary: plain HTML, CSS
// and JavaScript, with no build step and nothing loaded from another host.
//
//go:embed console/index.html console/app.js console/app.css
var consoleFiles embed.FS

// consoleAssets maps the console's asset paths to their file and content type.
var consoleAssets = map[string][2]string{
	"/":        {"console/index.html", "text/html; charset=utf-8"},
	"/app.js":  {"console/app.js", "text/javascript; charset=utf-8"},
	"/app.css": {"console/app.css", "text/css; charset=utf-8"},
}

func serveConsoleAsset(w http.ResponseWriter, r *http.Request, path string) {
	a, ok := consoleAssets[path]
	if !ok {
		writeProblem(w, problemConsoleNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, problemConsoleMethod)
		return
	}
	b, err := consoleFiles.ReadFile(a[0])
	if err != nil {
		writeProblem(w, problemConsoleNotFound)
		return
	}
	w.Header().Set("Content-Type", a[1])
	// Revalidated on every load, so an upgraded gateway serves its own script at once.
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

var problemConsoleMethod = newProblem(http.StatusMethodNotAllowed, "method_not_allowed", "this console path does not take that method")
