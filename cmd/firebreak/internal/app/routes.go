package app

import (
	"net/http"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/firebreak-sec/firebreak/ingest/web"
)

func (a *App) routes(github http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/ingest/github", github)
	a.ghDepthRoutes(mux)
	if a.Sinks != nil {
		a.Sinks.Register(mux) // log sinks, Splunk HEC, Loki push, scan ingest
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		web.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
	a.oncallRoutes(mux) // control API (scoped tokens, audited), incident pages: oncall.go
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		web.Error(w, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path)
	})
	return a.recoverer(mux)
}

// recoverer turns a handler panic (always a bug) into a 500 and a log line
// with the stack, instead of a dropped connection.
func (a *App) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.Log.WithField("path", r.URL.Path).WithField("stack", string(debug.Stack())).Error("handler panic (a bug)")
				web.Error(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
