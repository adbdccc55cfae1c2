package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a Prometheus collector that reads the responders' durable
// consumer and the streams from JetStream at scrape time, so the numbers are
// JetStream's own (shared by every instance: aggregate them with max, not
// sum). Nothing in them names a secret: stream and consumer names only.
type Collector struct {
	Consumer jetstream.Consumer
	Streams  []jetstream.Stream
	// Timeout bounds the info requests of one scrape (2s when zero).
	Timeout time.Duration
}

var (
	descUp          = prometheus.NewDesc("firebreak_jetstream_up", "1 when the last scrape could read the consumer's and streams' info from JetStream.", nil, nil)
	descPending     = prometheus.NewDesc("firebreak_consumer_pending_messages", "Exposures in the stream not yet delivered to any responder (the backlog).", []string{"consumer"}, nil)
	descAckPending  = prometheus.NewDesc("firebreak_consumer_ack_pending_messages", "Exposures delivered to a responder and not yet acknowledged (being handled, or held by a responder that died until AckWait).", []string{"consumer"}, nil)
	descRedelivered = prometheus.NewDesc("firebreak_consumer_redelivered_messages", "Exposures delivered more than once and not yet acknowledged.", []string{"consumer"}, nil)
	descWaiting     = prometheus.NewDesc("firebreak_consumer_waiting_pulls", "Pull requests waiting at the consumer (idle responder capacity).", []string{"consumer"}, nil)
	descDelivered   = prometheus.NewDesc("firebreak_consumer_delivered_messages_total", "Deliveries made by the consumer (its consumer sequence; redeliveries included).", []string{"consumer"}, nil)
	descStreamMsgs  = prometheus.NewDesc("firebreak_stream_messages", "Messages stored in a Firebreak stream.", []string{"stream"}, nil)
	descStreamBytes = prometheus.NewDesc("firebreak_stream_bytes", "Bytes stored in a Firebreak stream.", []string{"stream"}, nil)
	descReplicas    = prometheus.NewDesc("firebreak_stream_replicas", "A clustered stream's peers by state: current (caught up), lagging, offline; the leader counts as current.", []string{"stream", "state"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descPending, descAckPending, descRedelivered, descWaiting, descDelivered, descStreamMsgs, descStreamBytes, descReplicas} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	up := 1.0
	if c.Consumer != nil {
		ci, err := c.Consumer.Info(ctx)
		if err != nil {
			up = 0
		} else {
			name := ci.Name
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(ci.NumPending), name)
			ch <- prometheus.MustNewConstMetric(descAckPending, prometheus.GaugeValue, float64(ci.NumAckPending), name)
			ch <- prometheus.MustNewConstMetric(descRedelivered, prometheus.GaugeValue, float64(ci.NumRedelivered), name)
			ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(ci.NumWaiting), name)
			ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(ci.Delivered.Consumer), name)
		}
	}
	for _, s := range c.Streams {
		if s == nil {
			continue
		}
		si, err := s.Info(ctx)
		if err != nil {
			up = 0
			continue
		}
		name := si.Config.Name
		ch <- prometheus.MustNewConstMetric(descStreamMsgs, prometheus.GaugeValue, float64(si.State.Msgs), name)
		ch <- prometheus.MustNewConstMetric(descStreamBytes, prometheus.GaugeValue, float64(si.State.Bytes), name)
		if si.Cluster != nil && (si.Cluster.Leader != "" || len(si.Cluster.Replicas) > 0) {
			current, lagging, offline := 0.0, 0.0, 0.0
			if si.Cluster.Leader != "" {
				current++
			}
			for _, p := range si.Cluster.Replicas {
				switch {
				case p.Offline:
					offline++
				case p.Current:
					current++
				default:
					lagging++
				}
			}
			ch <- prometheus.MustNewConstMetric(descReplicas, prometheus.GaugeValue, current, name, "current")
			ch <- prometheus.MustNewConstMetric(descReplicas, prometheus.GaugeValue, lagging, name, "lagging")
			ch <- prometheus.MustNewConstMetric(descReplicas, prometheus.GaugeValue, offline, name, "offline")
		}
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
}
