package tokens_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/responders/tokens"
)

func TestParseScopes(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []tokens.Scope
	}{
		{[]string{"read"}, []tokens.Scope{tokens.Read}},
		{[]string{"approve,read"}, []tokens.Scope{tokens.Read, tokens.Approve}},
		{[]string{"admin", "replay", "read"}, []tokens.Scope{tokens.Read, tokens.Replay, tokens.Admin}},
		{[]string{" read , ,replay,", ""}, []tokens.Scope{tokens.Read, tokens.Replay}},
		{[]string{"read,read", "read"}, []tokens.Scope{tokens.Read}},
		{[]string{"admin,approve,replay,read"}, tokens.AllScopes},
	} {
		got, err := tokens.ParseScopes(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseScopes(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		in  []string
		msg string
	}{
		{nil, "bad scopes: at least one scope is required (read, replay, approve, admin)"},
		{[]string{"", " , ,"}, "bad scopes: at least one scope is required (read, replay, approve, admin)"},
		{[]string{"read,write"}, `bad scopes: unknown scope "write" (known: read, replay, approve, admin)`},
		{[]string{"read", "Admin"}, `bad scopes: unknown scope "Admin" (known: read, replay, approve, admin)`},
		{[]string{"read approve"}, `bad scopes: unknown scope "read approve" (known: read, replay, approve, admin)`},
	} {
		got, err := tokens.ParseScopes(c.in)
		if err == nil || err.Error() != c.msg || !errors.Is(err, tokens.ErrScopes) {
			t.Errorf("ParseScopes(%q) = %v, %v; want the error %q", c.in, got, err, c.msg)
		}
	}
}

// FuzzParseScopes: what ParseScopes accepts is a non-empty set of known
// scopes, each once, in the order of AllScopes, and exactly the names the
// values list; what it refuses is an ErrScopes.
func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"read", "approve,read", "admin, replay,read,read", "", ",", "write", "Read"} {
		f.Add(s, "replay")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := tokens.ParseScopes([]string{a, b})
		if err != nil {
			if !errors.Is(err, tokens.ErrScopes) {
				t.Fatalf("ParseScopes(%q, %q): %v does not wrap ErrScopes", a, b, err)
			}
			return
		}
		var named []tokens.Scope
		for _, p := range strings.Split(a+","+b, ",") {
			if p = strings.TrimSpace(p); p != "" {
				named = append(named, tokens.Scope(p))
			}
		}
		want := slices.DeleteFunc(slices.Clone(tokens.AllScopes), func(s tokens.Scope) bool { return !slices.Contains(named, s) })
		if len(got) == 0 || !slices.Equal(got, want) || len(named) == 0 {
			t.Fatalf("ParseScopes(%q, %q) = %v, want %v", a, b, got, want)
		}
		for _, n := range named {
			if !slices.Contains(got, n) {
				t.Fatalf("ParseScopes(%q, %q) = %v accepted the unknown %q", a, b, got, n)
			}
		}
	})
}
