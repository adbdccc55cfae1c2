// Package logsink receives logs where log shippers already send them, finds
// leaked keys in them, and publishes each as an exposure:
//
//	POST /v1/ingest/logs               NDJSON (or concatenated JSON, or JSON arrays) or text/plain lines
//	POST /services/collector[/event]   Splunk HTTP Event Collector events
//	POST /services/collector/raw       Splunk HEC raw lines
//	POST /loki/api/v1/push             Loki push API (JSON)
//	syslog over TCP                    RFC 5424 / RFC 3164, octet-counted or newline-framed (off by default)
//	POST /v1/ingest/scan               the findings of `firebreak scan --publish`
//
// Content-Encoding: gzip is accepted on every HTTP sink.
//
// # Contract
//
// A request is authenticated first (a configured ingest token; HEC's
// "Authorization: Splunk <token>", or "Bearer <token>" elsewhere; HTTP Basic
// with the token as password everywhere), then read whole (413 past the size
// limit), then parsed and validated whole: a malformed entry rejects the
// request (400 naming the entry and the problem, never echoing content) and
// nothing of it is published. Only then does the pipeline run: the detectors
// (ingest/detect) scan all entries of the request as one block; each finding
// is fingerprinted, grouped by (secret, stream), sealed and published with a
// JetStream message id by ingest/sealer and the bus publisher. The answer is
// sent after JetStream acknowledged every publish: 2xx means durable; 503
// means retry (sightings that did get published are folded on the retry).
// Each protocol is answered in its own shape: Firebreak's {"error": …} for
// /v1/ingest/*, HEC's {"text", "code"} with Splunk's codes, Loki's 204 and
// plain-text errors.
//
// # What an exposure carries
//
// Never the log line. The secret sealed, its fingerprint and hint; the stream
// (the labels that name where the line came from, in selector form,
// {app="payments",env="prod"}), the entry's labels (bounded in number and
// length, with every secret found in the request redacted from them), the
// environment guessed from env/environment/namespace labels or from the
// values of service/app/cluster/host labels, and the count of sightings.
//
// The detectors read every entry with its JSON string escapes decoded (up to
// three levels: a JSON body, a JSON log line inside it, and one more), so
// that a key written as "q8Rz\u002B…" or "…\/…" is found, and sealed, as the
// key itself. Labels are kept whole until the secrets are out of them, and
// only then cut to their bounds; what is taken out is every found secret,
// any run of 12 bytes of one, and a piece of 6 bytes or more of one where a
// label's text begins or ends; a label that holds a found secret
// JSON-escaped is published decoded, without it.
//
// # Flood dedup
//
// See Window: one exposure per secret per stream per window (default 1m,
// ingest.dedup_window), the first published at once, the rest folded into
// one exposure per window with their count.
package logsink
