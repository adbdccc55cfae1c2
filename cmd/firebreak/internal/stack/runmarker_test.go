package stack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// TestMachineStopIsReportedAtTheNextStart: the run marker in data_dir tells
// a clean stop and a process crash (nothing to say) from a crash of the
// machine (no clean stop, and a new boot id), after which the last ~30 s of
// asynchronously persisted state may be lost while its exposures were acked:
// the next start logs an error with the replay command for the window
// before the last exposure stored.
func TestMachineStopIsReportedAtTheNextStart(t *testing.T) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skip("no boot id on this OS")
	}
	e := start(t, stack.Options{})
	_, _, id := leakAlert(t, e, "acme/payments-api", 81, "d-marker")
	waitState(t, e, id, incident.Contained)
	dir := e.App.Cfg.DataDir
	marker := func() map[string]any {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, app.RunMarkerFile))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	setMarker := func(bootID string) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"boot_id": bootID, "started": time.Now().Add(-time.Hour)})
		if err := os.WriteFile(filepath.Join(dir, app.RunMarkerFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	thisBoot := strings.TrimSpace(string(boot))
	if m := marker(); m["boot_id"] != thisBoot || m["stopped"] != nil {
		t.Fatalf("marker while running: %v", m)
	}
	st, err := e.App.JS.Stream(context.Background(), exposure.StreamExposures)
	if err != nil {
		t.Fatal(err)
	}
	last := st.CachedInfo().State.LastTime
	e.StopApp()
	if m := marker(); m["stopped"] == nil {
		t.Fatalf("marker after a clean stop: %v", m)
	}

	for _, c := range []struct {
		name   string
		bootID string // of the previous run, which did not stop cleanly
		warns  bool
	}{
		{"clean stop", "", false},
		{"process crash", thisBoot, false},
		{"machine crash", "8c1d6a52-0000-4000-8000-000000000000", true},
	} {
		if c.bootID != "" {
			setMarker(c.bootID)
		}
		from := len(e.logs.String())
		if err := e.RestartApp(context.Background(), responders.Hooks{}); err != nil {
			t.Fatal(err)
		}
		var warned []map[string]any
		sc := bufio.NewScanner(strings.NewReader(e.logs.String()[from:]))
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil && strings.Contains(l["msg"].(string), "the machine stopped while Firebreak ran") {
				warned = append(warned, l)
			}
		}
		switch {
		case !c.warns && len(warned) > 0:
			t.Fatalf("%s: warned of a machine crash: %v", c.name, warned)
		case c.warns && len(warned) != 1:
			t.Fatalf("%s: %d warnings, want 1", c.name, len(warned))
		case c.warns:
			l := warned[0]
			want := "firebreak replay --since " + last.Add(-time.Minute).UTC().Format(time.RFC3339) +
				" --until " + last.Add(time.Second).UTC().Format(time.RFC3339)
			if l["level"] != "error" || l["replay"] != want || l["last_exposure"] != last.UTC().Format(time.RFC3339) {
				t.Fatalf("%s: warning %v, want level error and replay %q", c.name, l, want)
			}
		}
		if m := marker(); m["boot_id"] != thisBoot || m["stopped"] != nil {
			t.Fatalf("%s: marker after the restart: %v", c.name, m)
		}
		e.StopApp()
	}
}
