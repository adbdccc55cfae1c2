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
	return a.recoverer(unrouted(mux))
}

// unrouted answers what mux has no route for in Firebreak's error shape: a
// 405 with the Allow header the mux computes when the path has routes for
// other methods, a 404 otherwise. (A catch-all "/" route would turn every
// wrong method into a 404.)
func unrouted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(&unroutedWriter{ResponseWriter: w, r: r}, r)
	})
}

// unroutedWriter rewrites the mux's plain-text 404 and 405 into JSON; any
// other answer (a redirect to the cleaned path) passes through.
type unroutedWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool
}

func (u *unroutedWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		u.swallow = true
		web.Error(u.ResponseWriter, code, "no route for "+u.r.Method+" "+u.r.URL.Path)
	case http.StatusMethodNotAllowed:
		u.swallow = true
		web.Error(u.ResponseWriter, code, u.r.Method+" is not allowed on "+u.r.URL.Path+"; use "+u.Header().Get("Allow"))
	default:
		u.ResponseWriter.WriteHeader(code)
	}
}

func (u *unroutedWriter) Write(b []byte) (int, error) {
	if u.swallow {
		return len(b), nil
	}
	return u.ResponseWriter.Write(b)
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
