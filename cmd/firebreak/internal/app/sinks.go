package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/logsink"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// buildSinks wires the log sinks (HTTP and syslog) and the scan ingest: one
// pipeline (detectors, sealer, dedup window, publisher) shared by all of
// them. Without ingest.tokens a token file is generated in the data dir.
func (a *App) buildSinks(rs secret.Resolvers, m *web.Metrics) error {
	cfg := a.Cfg
	shared := cfg.Ingest.Tokens
	if len(shared) == 0 {
		a.IngestTokenFile = filepath.Join(cfg.DataDir, "ingest-token")
		if err := ensureRandomFile(a.IngestTokenFile); err != nil {
			return fmt.Errorf("ingest token: %w", err)
		}
		shared = []secret.Ref{secret.Ref("file:" + a.IngestTokenFile)}
	}
	tokens := func(path string, own []secret.Ref) (logsink.Tokens, error) {
		refs := own
		if len(refs) == 0 {
			refs = shared
		} else {
			path = "ingest." + path + ".tokens"
		}
		out := make(logsink.Tokens, 0, len(refs))
		for _, r := range refs {
			src, err := rs.Source(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			out = append(out, src)
		}
		return out, nil
	}
	var sc logsink.Config
	var err error
	if sc.Logs, err = tokens("logs", cfg.Ingest.Logs.Tokens); err != nil {
		return err
	}
	if sc.HEC, err = tokens("hec", cfg.Ingest.HEC.Tokens); err != nil {
		return err
	}
	if sc.Loki, err = tokens("loki", cfg.Ingest.Loki.Tokens); err != nil {
		return err
	}
	if sc.Scan, err = tokens("scan", cfg.Ingest.Scan.Tokens); err != nil {
		return err
	}
	sc.MaxBody, sc.Timeout = cfg.HTTP.MaxBody, cfg.HTTP.IngestTimeout.D()
	sc.Ready = func(ctx context.Context) error {
		_, err := a.JS.AccountInfo(ctx)
		return err
	}
	log := a.Log.WithField("component", "logsink")
	window := logsink.NewWindow(cfg.Ingest.DedupWindow.D(), cfg.Ingest.DedupMax)
	a.LogPipeline = &logsink.Pipeline{
		Scanner: detect.New(), Sealer: &sealer.Sealer{Keyring: a.Keyring}, Pub: a.Publisher, Window: window,
		Metrics: logsink.NewMetrics(a.Registry, window), Published: m.Exposures, Log: log, Timeout: cfg.HTTP.IngestTimeout.D(),
	}
	a.Sinks = logsink.New(sc, a.LogPipeline, m, log)
	if l := cfg.Ingest.Syslog.Listen; l != "" {
		sys := logsink.SyslogConfig{Listen: l, MaxMessage: cfg.Ingest.Syslog.MaxMessage, Labels: cfg.Ingest.Syslog.Labels}
		if t := cfg.Ingest.Syslog.TLS; t.Enabled() {
			if sys.TLS, err = t.Config(); err != nil {
				return fmt.Errorf("ingest.syslog.tls.%w", err)
			}
		}
		a.Syslog, err = logsink.NewSyslog(sys, a.LogPipeline, m, log)
		if err != nil {
			return fmt.Errorf("ingest.syslog.listen: %w", err)
		}
		a.closers = append(a.closers, func() { _ = a.Syslog.Close() })
	}
	return nil
}
