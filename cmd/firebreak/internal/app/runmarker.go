package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// RunMarkerFile is the file in data_dir where a Firebreak with the embedded
// server records that it runs, on which boot of the machine, and whether it
// stopped cleanly.
//
// It tells the three ways a run can end apart at the next start. A clean
// stop loses nothing. A crash of the process loses at most the last
// milliseconds of Firebreak's asynchronously persisted state, and the
// exposures they belonged to are redelivered. A crash of the machine or a
// power failure (no clean stop, and the machine's boot id changed) can lose
// the state written in the last ~30 s before it, which was still in the
// kernel's page cache, while the consumer's acknowledgements were on disk:
// the exposures handled then are not redelivered. The next start says so in
// an error-level log line with the `firebreak replay` command that re-runs
// them (README, "Durability").
const RunMarkerFile = "run.json"

// runMarker is the content of RunMarkerFile.
type runMarker struct {
	BootID  string     `json:"boot_id"` // empty where the OS does not say
	Started time.Time  `json:"started"`
	Stopped *time.Time `json:"stopped,omitempty"` // set by a clean stop
}

// bootIDFile holds the Linux kernel's random id of the current boot.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// bootID is the current boot's id, or "" where it cannot be read (not Linux).
func bootID() string {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readRunMarker reads the marker in dir; nil without error when there is
// none (the first start).
func readRunMarker(dir string) (*runMarker, error) {
	b, err := os.ReadFile(filepath.Join(dir, RunMarkerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m runMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", RunMarkerFile, err)
	}
	return &m, nil
}

// writeRunMarker replaces the marker in dir durably: a temporary file,
// fsynced, renamed over the old one, and the directory fsynced.
func writeRunMarker(dir string, m *runMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, RunMarkerFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, RunMarkerFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// machineStopped reports whether prev, the marker of the run before this
// one, ended with the machine: it did not stop cleanly and the machine has
// booted since. Without a boot id on either side it cannot tell, and says
// no.
func machineStopped(prev *runMarker, boot string) bool {
	return prev != nil && prev.Stopped == nil && prev.BootID != "" && boot != "" && prev.BootID != boot
}

// checkRunMarker reads the previous run's marker in data_dir and, when the
// machine stopped under it and Firebreak's state persists asynchronously,
// logs what may be lost and the replay that re-runs it. The new marker is
// written by markRunning once the start succeeded, so a start that fails
// leaves the old one, and the next start says it again.
func (a *App) checkRunMarker(ctx context.Context) {
	prev, err := readRunMarker(a.Cfg.DataDir)
	if err != nil {
		a.Log.WithError(err).Warn("cannot read the run marker; a machine crash before this start would go unnoticed")
		return
	}
	if !machineStopped(prev, bootID()) || a.topology().SyncState {
		return
	}
	fields := logrus.Fields{"previous_start": prev.Started.UTC().Format(time.RFC3339)}
	cmd := "firebreak replay --since <a minute before the machine stopped>"
	if s, err := a.JS.Stream(ctx, exposure.StreamExposures); err == nil {
		if last := s.CachedInfo().State.LastTime; !last.IsZero() {
			fields["last_exposure"] = last.UTC().Format(time.RFC3339)
			cmd = fmt.Sprintf("firebreak replay --since %s --until %s",
				last.Add(-time.Minute).UTC().Format(time.RFC3339), last.Add(time.Second).UTC().Format(time.RFC3339))
		}
	}
	fields["replay"] = cmd
	a.Log.WithFields(fields).Error("the machine stopped while Firebreak ran (no clean stop, and it has rebooted since): " +
		"incident and audit records written in its last ~30 s may be lost and their exposures will not be redelivered; " +
		"replay them (revocations are idempotent; notifications may repeat)")
}

// markRunning writes this run's marker: started, not stopped.
func (a *App) markRunning() {
	a.runMarker = &runMarker{BootID: bootID(), Started: time.Now().UTC()}
	if err := writeRunMarker(a.Cfg.DataDir, a.runMarker); err != nil {
		a.Log.WithError(err).Warn("cannot write the run marker; a machine crash during this run would go unnoticed at the next start")
		a.runMarker = nil
	}
}

// markStopped records a clean stop in the marker, after the embedded server
// has shut down; nothing when this run wrote no marker.
func (a *App) markStopped() {
	if a.runMarker == nil {
		return
	}
	now := time.Now().UTC()
	a.runMarker.Stopped = &now
	if err := writeRunMarker(a.Cfg.DataDir, a.runMarker); err != nil {
		a.Log.WithError(err).Warn("cannot record the clean stop in the run marker; a start after a reboot will take this stop for a machine crash")
	}
	a.runMarker = nil
}
