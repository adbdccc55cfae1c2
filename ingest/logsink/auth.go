package logsink

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// Tokens are the accepted ingest tokens of one sink. Each is read from its
// source at every check (so a rotated file or variable takes effect without a
// restart) and compared in constant time, lengths included (secret.Value.Matches).
// No tokens accepts nothing.
type Tokens []secret.Source

// authProblem classifies a failed authentication.
type authProblem int

const (
	authOK        authProblem = iota
	authMissing               // no credentials
	authMalformed             // an Authorization header of the wrong form
	authUnknown               // well-formed, but not a configured token
	authError                 // the configured tokens could not be read
)

// check reports whether presented is one of the tokens.
func (ts Tokens) check(ctx context.Context, presented string) (authProblem, error) {
	if presented == "" {
		return authMissing, nil
	}
	var errs []error
	match := 0
	for _, t := range ts {
		v, err := t.Secret(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v.Matches([]byte(presented)) { // every token is compared: no early exit
			match = 1
		}
	}
	if match == 1 {
		return authOK, nil
	}
	if len(errs) > 0 && len(errs) == len(ts) {
		return authError, fmt.Errorf("ingest tokens unavailable: %w", errors.Join(errs...))
	}
	return authUnknown, nil
}

// credential extracts the token of an Authorization header with one of the
// schemes (compared case-insensitively), or from HTTP Basic auth, whose
// password is the token (Fluent Bit's http_user/http_passwd, Splunk's
// "-u x:<token>").
func credential(r *http.Request, schemes ...string) (string, authProblem) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return "", authMissing
	}
	scheme, rest, ok := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	if !ok || rest == "" {
		return "", authMalformed
	}
	for _, s := range schemes {
		if strings.EqualFold(scheme, s) {
			return rest, authOK
		}
	}
	if strings.EqualFold(scheme, "Basic") {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", authMalformed
		}
		_, pass, ok := strings.Cut(string(b), ":")
		if !ok || pass == "" {
			return "", authMalformed
		}
		return pass, authOK
	}
	return "", authMalformed
}
