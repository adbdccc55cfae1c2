package app

import (
	"os"
	"runtime/debug"
	"strconv"
)

// DefaultGCPercent is the garbage collector's target (GOGC) that `firebreak
// serve` runs with when the GOGC environment variable sets none. Go's own
// default, 100, collects each time the heap doubles its live size; at 200
// it collects when the heap triples it, about half as often (BENCHMARKS.md,
// "Fourteenth pass": 7 % less CPU per exposure, a median 9 % more
// exposures/s, ~40 % more peak RSS under load).
const DefaultGCPercent = 200

// ApplyGCDefault sets the collector's target to DefaultGCPercent unless GOGC
// is set in the environment (to any value, "off" included: the operator
// chose). It returns the setting in effect, for the start log. GOMEMLIMIT,
// when set, still bounds the heap either way.
func ApplyGCDefault() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(DefaultGCPercent)
	return strconv.Itoa(DefaultGCPercent)
}
