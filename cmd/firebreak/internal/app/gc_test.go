package app_test

import (
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
)

// ApplyGCDefault sets the collector's target to DefaultGCPercent when GOGC
// is unset, and leaves the operator's GOGC alone (reporting it) when set.
func TestApplyGCDefault(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	t.Setenv("GOGC", "")
	if got := app.ApplyGCDefault(); got != strconv.Itoa(app.DefaultGCPercent) {
		t.Fatalf("GOGC unset: ApplyGCDefault() = %q, want %d", got, app.DefaultGCPercent)
	}
	if p := debug.SetGCPercent(100); p != app.DefaultGCPercent {
		t.Fatalf("GOGC unset: the collector's target is %d, want %d", p, app.DefaultGCPercent)
	}

	t.Setenv("GOGC", "150") // as the runtime read it at start; here only the report matters
	if got := app.ApplyGCDefault(); got != "150" {
		t.Fatalf("GOGC=150: ApplyGCDefault() = %q, want 150", got)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("GOGC set: ApplyGCDefault changed the collector's target to %d", p)
	}
}
