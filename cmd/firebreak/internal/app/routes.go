package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/firebreak-sec/firebreak/ingest/web"
	"github.com/firebreak-sec/firebreak/responders/incident"
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
	mux.Handle("GET /v1/incidents", a.authorized(http.HandlerFunc(a.listIncidents)))
	mux.Handle("GET /v1/incidents/{id}", a.authorized(http.HandlerFunc(a.getIncident)))
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

// authorized requires the admin bearer token.
func (a *App) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || got == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="firebreak"`)
			web.Error(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		want, err := a.adminToken.Secret(r.Context())
		if err != nil {
			a.Log.WithError(err).Error("admin token unavailable")
			web.Error(w, http.StatusServiceUnavailable, "control API token unavailable")
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(want.Reveal())) != 1 {
			web.Error(w, http.StatusUnauthorized, "unknown token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *App) listIncidents(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	list, err := a.Incidents.List(ctx)
	if err != nil {
		web.Error(w, http.StatusServiceUnavailable, "incidents unavailable: "+err.Error())
		return
	}
	q := r.URL.Query()
	out := make([]*incident.Incident, 0, len(list))
	for _, in := range list {
		if s := q.Get("state"); s != "" && string(in.State) != s {
			continue
		}
		if p := q.Get("provider"); p != "" && in.Provider != p {
			continue
		}
		out = append(out, in)
	}
	web.JSON(w, http.StatusOK, map[string]any{"incidents": out})
}

func (a *App) getIncident(w http.ResponseWriter, r *http.Request) {
	in, _, err := a.Incidents.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, incident.ErrNotFound) {
		web.Error(w, http.StatusNotFound, "no incident "+r.PathValue("id"))
		return
	}
	if err != nil {
		web.Error(w, http.StatusServiceUnavailable, "incident unavailable: "+err.Error())
		return
	}
	web.JSON(w, http.StatusOK, in)
}
