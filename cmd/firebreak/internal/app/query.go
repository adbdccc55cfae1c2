package app

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/web"
)

// queryParams reads the query string of a control-API request whose route
// takes the parameters names, each at most once, into a map (a parameter
// not given is absent). Its error, a 400 for the caller, says what is wrong
// without repeating a name or value that may be a secret (web.Quote):
//
//   - a malformed query string (a bad %-escape, a ';'), which r.URL.Query
//     would drop pairs of silently;
//   - a parameter the route does not take: a typo such as ?stat=open would
//     otherwise list every incident, as /readyz refuses an unknown exclude
//     name;
//   - a parameter given more than once (?since=1h&since=2d): which one would
//     count is a guess, so none does.
func queryParams(r *http.Request, names ...string) (map[string]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query string: use name=value pairs joined by & (with %%XX escapes)")
	}
	given := make([]string, 0, len(q))
	for name := range q {
		given = append(given, name)
	}
	slices.Sort(given) // the same request gets the same answer
	out := make(map[string]string, len(q))
	for _, name := range given {
		if !slices.Contains(names, name) {
			takes := "none"
			if len(names) > 0 {
				takes = strings.Join(names, ", ")
			}
			return nil, fmt.Errorf("unknown query parameter %s; %s takes %s", web.Quote(name, "name"), routeOf(r), takes)
		}
		if n := len(q[name]); n > 1 {
			return nil, fmt.Errorf("query parameter %s given %d times; give it once", web.Quote(name, "name"), n)
		}
		out[name] = q[name][0]
	}
	return out, nil
}

// routeOf names the route a request was routed to ("GET /v1/incidents").
func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method + " " + web.Path(r.URL.Path)
}

// query is queryParams for a handler: it answers 400 with the error and
// reports false when the query string is refused.
func query(w http.ResponseWriter, r *http.Request, names ...string) (map[string]string, bool) {
	q, err := queryParams(r, names...)
	if err != nil {
		web.Error(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return q, true
}

// knownID reports whether id, from a path, a query or a body, may be one of
// Firebreak's ids, and so be looked up and repeated in an answer. Every id
// Firebreak makes (inc_…, apr_…, tok_…, rpl_…, the "control" chain) is
// web.Quotable; a value that is not — longer than 32 bytes, a recognised
// key, token-shaped — may be a secret pasted where the id goes, and is
// neither looked up (the store's errors would carry it) nor repeated: the
// caller gets web.Quote's description of it.
func knownID(id string) bool { return web.Quotable(id) }
