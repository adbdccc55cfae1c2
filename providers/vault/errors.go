package vault

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name is the provider name in classified errors ("vault read: HTTP 403: ...").
const Name = "vault"

// Errors callers test for with errors.Is.
var (
	// ErrNotFound: nothing at the path (or the version was deleted).
	ErrNotFound = errors.New("vault: not found")
	// ErrCASConflict: a check-and-set write found another version than the
	// one it was based on (someone else wrote the secret in between).
	ErrCASConflict = errors.New("vault: check-and-set conflict")
	// ErrPermission: the token's policy does not allow the operation.
	ErrPermission = errors.New("vault: permission denied")
	// ErrSealed: the server is sealed.
	ErrSealed = errors.New("vault: sealed")
)

// classify turns an error from the Vault client into a *providers.Error:
// permission denied and bad requests are permanent; sealed, standby, rate
// limited, 5xx and transport failures are retryable. The request URL is
// dropped (it names only paths, but an error should say what failed in
// Firebreak's words). what describes the operation: "read secret/data/x".
func classify(op providers.Op, what string, err error) error {
	if err == nil {
		return nil
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(re.Errors, "; ")
		pe := &providers.Error{Provider: Name, Op: op, Status: re.StatusCode, Class: providers.ClassifyStatus(re.StatusCode),
			Message: what + ": " + msg}
		switch {
		case re.StatusCode == http.StatusForbidden:
			pe.Class = providers.Permanent
			pe.Message = what + ": permission denied (the token's policy lacks a capability on this path; see the least-privilege policy in the README)"
			pe.Err = ErrPermission
		case re.StatusCode == http.StatusNotFound:
			pe.Class = providers.Permanent
			pe.Err = ErrNotFound
		case re.StatusCode == http.StatusBadRequest && strings.Contains(msg, "check-and-set"):
			pe.Class = providers.Retryable
			pe.Message = what + ": the secret changed concurrently (check-and-set did not match)"
			pe.Err = ErrCASConflict
		case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(msg), "sealed"):
			pe.Class = providers.Retryable
			pe.Message = what + ": Vault is sealed"
			pe.Err = ErrSealed
		case re.StatusCode == http.StatusTooManyRequests || re.StatusCode == 472 || re.StatusCode == 473 || re.StatusCode >= 500:
			pe.Class = providers.Retryable
		}
		return pe
	}
	if errors.Is(err, api.ErrSecretNotFound) {
		return &providers.Error{Provider: Name, Op: op, Class: providers.Permanent, Status: http.StatusNotFound, Message: what + ": not found", Err: ErrNotFound}
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return err
	}
	e := providers.TransportError(Name, op, err)
	if e.Class == providers.Permanent && isConnError(err) {
		e.Class = providers.Retryable
	}
	e.Message = what + ": Vault unreachable"
	return e
}

func isConnError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "connection reset") || strings.Contains(s, "EOF")
}

func permanent(op providers.Op, format string, args ...any) *providers.Error {
	return &providers.Error{Provider: Name, Op: op, Class: providers.Permanent, Message: fmt.Sprintf(format, args...)}
}

// IsPermission reports whether err is a Vault permission denial.
func IsPermission(err error) bool { return errors.Is(err, ErrPermission) }

// classifyStatus returns the HTTP status of a classified Vault error (0 when none).
func classifyStatus(err error) int {
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Status
	}
	return 0
}

func isUnknownKey(err error) bool { return errors.Is(err, secret.ErrUnknownKey) }
