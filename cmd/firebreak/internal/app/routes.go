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
// other methods, a 404 otherwise. Both name the path as web.Path shows it. (A catch-all "/" route would turn every
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
		web.Error(u.ResponseWriter, code, "no route for "+method(u.r)+" "+web.Path(u.r.URL.Path))
	case http.StatusMethodNotAllowed:
		u.swallow = true
		web.Error(u.ResponseWriter, code, method(u.r)+" is not allowed on "+web.Path(u.r.URL.Path)+"; use "+u.Header().Get("Allow"))
	default:
		u.ResponseWriter.WriteHeader(code)
	}
}

// method is a request's method for an answer: any token is a method to
// net/http, so one that may be a secret is described (web.Quotable).
func method(r *http.Request) string {
	if !web.Quotable(r.Method) {
		return web.Quote(r.Method, "method")
	}
	return r.Method
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
				a.Log.WithField("path", web.Path(r.URL.Path)).WithField("stack", string(debug.Stack())).Error("handler panic (a bug)")
				web.Error(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
