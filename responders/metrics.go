package responders

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the responder's Prometheus metrics. Labels never carry a secret,
// a fingerprint or an incident id: only sources, providers, actions, outcomes.
type Metrics struct {
	Processed    *prometheus.CounterVec   // exposures handled, by source, provider, outcome
	Steps        *prometheus.CounterVec   // step outcomes, by action, provider, outcome
	StepDuration *prometheus.HistogramVec // step duration, by action, provider
	Retries      *prometheus.CounterVec   // in-process step retries, by action, provider
	TimeToRevoke *prometheus.HistogramVec // receipt → revocation, by provider
	DeadLetters  *prometheus.CounterVec   // dead-lettered exposures, by source, provider
	Redeliveries *prometheus.CounterVec   // exposures received again (NumDelivered > 1), by source, provider
	Handover     prometheus.Counter       // messages given back (nak) on a graceful stop
}

// NewMetrics creates the metrics and registers them with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firebreak_exposures_processed_total",
			Help: "Exposures handled by responders, by outcome (contained, completed, merged, retry, failed, ...).",
		}, []string{"source", "provider", "outcome"}),
		Steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firebreak_steps_total",
			Help: "Playbook step outcomes.",
		}, []string{"action", "provider", "outcome"}),
		StepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "firebreak_step_duration_seconds",
			Help:    "Playbook step duration, all attempts included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"action", "provider"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firebreak_step_retries_total",
			Help: "In-process retries of playbook steps after retryable failures.",
		}, []string{"action", "provider"}),
		TimeToRevoke: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "firebreak_time_to_revoke_seconds",
			Help:    "Time from the first receipt of an exposure to the revocation of its key.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900},
		}, []string{"provider"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firebreak_dead_letters_total",
			Help: "Exposures copied to the dead-letter subject.",
		}, []string{"source", "provider"}),
	}
	m.Redeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "firebreak_redeliveries_total",
		Help: "Exposure messages this responder received again (a nak, a crashed or stopped responder, AckWait expired).",
	}, []string{"source", "provider"})
	m.Handover = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "firebreak_shutdown_handovers_total",
		Help: "Exposures handed back to JetStream (nak) by a graceful stop, unfinished, for another instance to take at once.",
	})
	if reg != nil {
		reg.MustRegister(m.Processed, m.Steps, m.StepDuration, m.Retries, m.TimeToRevoke, m.DeadLetters, m.Redeliveries, m.Handover)
	}
	return m
}
