package sealer_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

func TestExposureFromFinding(t *testing.T) {
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "k.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := &sealer.Sealer{Keyring: kr, Now: func() time.Time { return now }}
	line := []byte("key=AKIAQYLPMN5HHHFPZAM2 aws_secret_access_key=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\n")
	var found sealer.Found
	detect.New().Scan(line, func(f detect.Finding) {
		if f.Type == "aws_secret_access_key" {
			found = sealer.FromFinding(f, line[f.Start:f.End])
		}
	})
	if found.Secret.IsZero() {
		t.Fatal("the detector does not report the AWS secret key")
	}
	raw := found.Secret.Reveal()
	loc := exposure.Location{Stream: `{app="a"}`, Labels: map[string]string{"namespace": "billing-prod"}}
	e, err := s.Exposure(context.Background(), exposure.Source{Kind: exposure.SourceLogs}, found, "", loc, "", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if e.Secret.Provider != "aws" || e.Secret.KeyID != "AKIAQYLPMN5HHHFPZAM2" || e.Environment != exposure.EnvProd ||
		e.Secret.Fingerprint != kr.Fingerprint(secret.New(raw)) || !e.ObservedAt.Equal(now) || e.Count != 1 {
		t.Fatalf("event %+v", e)
	}
	if strings.Contains(e.Secret.Redacted, raw[:12]) || strings.Contains(e.Secret.Sealed, raw) {
		t.Fatal("the raw secret shows")
	}
	v, err := kr.Open(context.Background(), e.Secret.Sealed, []byte(e.Secret.Fingerprint))
	if err != nil || v.Reveal() != raw {
		t.Fatalf("open: %v", err)
	}
	// The fingerprint is bound as AAD: a sealed blob moved to another
	// fingerprint does not open.
	if _, err := kr.Open(context.Background(), e.Secret.Sealed, []byte("another")); !errors.Is(err, secret.ErrOpen) {
		t.Fatalf("open with another fingerprint: %v", err)
	}
	if _, err := s.Exposure(context.Background(), exposure.Source{Kind: exposure.SourceLogs}, sealer.Found{Type: "x"}, "", loc, "", now); err == nil {
		t.Fatal("an empty secret made an exposure")
	}
}
