// Package deploy holds what operators load next to Firebreak: the Grafana
// dashboard (grafana/firebreak-dashboard.json) and the Prometheus alerting
// rules (prometheus/firebreak-alerts.yml). They are embedded so that tests
// can check every metric they reference against a running Firebreak.
package deploy

import _ "embed"

// Dashboard is the Grafana dashboard JSON (import it, pick the Prometheus
// data source).
//
//go:embed grafana/firebreak-dashboard.json
var Dashboard []byte

// AlertRules is the Prometheus rule file.
//
//go:embed prometheus/firebreak-alerts.yml
var AlertRules []byte
