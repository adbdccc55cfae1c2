package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

const canary = "sk-proj-CANARYcanaryCANARYcanary0123T3BlbkFJzzzz"

// TestValueNeverPrints checks every way a Value can reach text.
func TestValueNeverPrints(t *testing.T) {
	v := New(canary)
	holder := struct {
		Key  Value
		Name string
	}{v, "x"}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(f, v), fmt.Sprintf(f, holder), fmt.Sprintf(f, &holder))
	}
	outs = append(outs, v.String(), fmt.Sprint(v), fmt.Sprintln(v))
	b, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(b))
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(&buf)
	l.SetFormatter(&logrus.JSONFormatter{})
	l.WithField("key", v).WithField("holder", holder).Info("x")
	l.SetFormatter(&logrus.TextFormatter{})
	l.WithField("key", v).Info("x")
	sl := slog.New(slog.NewJSONHandler(&buf, nil))
	sl.Info("x", "key", v)
	outs = append(outs, buf.String())
	for i, o := range outs {
		if strings.Contains(o, "CANARY") {
			t.Errorf("output %d reveals the secret: %s", i, o)
		}
		if !strings.Contains(o, Redacted) {
			t.Errorf("output %d does not say %s: %s", i, Redacted, o)
		}
	}
	if v.Reveal() != canary {
		t.Fatal("Reveal does not return the plaintext")
	}
}

func TestValueEqualAndWipe(t *testing.T) {
	a, b := New("abc"), FromBytes([]byte("abc"))
	if !a.Equal(b) || a.Equal(New("abd")) {
		t.Fatal("Equal")
	}
	a.Wipe()
	if !a.IsZero() || b.Reveal() != "abc" {
		t.Fatal("Wipe touched a copy or left the value")
	}
}

func TestHint(t *testing.T) {
	for in, want := range map[string]string{
		"sk-proj-abcdefghijklmnopqrstuvwxyz0123":         "sk-proj-…0123",
		"ghp_abcdefghijklmnopqrstuvwxyz0123456789":       "ghp_…6789",
		"AKIAABCDEFGHIJKLMNOP":                           "AKIA…MNOP",
		"short":                                          "…",
		"sk-ant-api03-" + strings.Repeat("x", 80) + "9Q": "sk-ant-api03-…xx9Q",
	} {
		if got := Hint(New(in)); got != want {
			t.Errorf("Hint(%d chars) = %q, want %q", len(in), got, want)
		}
	}
}

// TestMatchesComparesWholeCredentials: Matches accepts exactly the
// configured credential; one of the same length that differs anywhere, a
// prefix of it, a longer value that starts with it, and an empty one are
// refused, and a zero Value matches nothing. (Timing is not tested: the
// comparison of digests is what makes it independent of length.)
func TestMatchesComparesWholeCredentials(t *testing.T) {
	const tok = "ingest-token-0123456789abcdef"
	v := New(tok)
	for _, c := range []struct {
		name, presented string
		want            bool
	}{
		{"the token", tok, true},
		{"same length, last byte differs", tok[:len(tok)-1] + "0", false},
		{"same length, first byte differs", "J" + tok[1:], false},
		{"a prefix", tok[:len(tok)-1], false},
		{"longer", tok + "0", false},
		{"with a newline", tok + "\n", false},
		{"empty", "", false},
	} {
		if got := v.Matches([]byte(c.presented)); got != c.want {
			t.Errorf("%s: Matches = %v, want %v", c.name, got, c.want)
		}
		if got := v.Equal(New(c.presented)); got != c.want {
			t.Errorf("%s: Equal = %v, want %v", c.name, got, c.want)
		}
	}
	if (Value{}).Matches(nil) || (Value{}).Matches([]byte("")) {
		t.Error("a zero Value matches an empty credential")
	}
}
