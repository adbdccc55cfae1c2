package exposure

import "strings"

// Subjects and names of the bus topology. They are part of Firebreak's contract:
// external consumers subscribe to them.
const (
	StreamExposures = "FIREBREAK_EXPOSURES"
	StreamAudit     = "FIREBREAK_AUDIT"
	StreamDead      = "FIREBREAK_DEAD"
	BucketIncidents = "firebreak_incidents"
	// BucketDeliveries remembers inbound delivery ids (GitHub's
	// X-GitHub-Delivery and the like) for longer than JetStream's duplicate
	// window, so redeliveries days later make no second exposure.
	BucketDeliveries = "firebreak_deliveries"
	// ConsumerResponders is the durable pull consumer the responders share.
	ConsumerResponders = "firebreak-responders"

	SubjectExposures = "firebreak.exposures.>"
	SubjectAudit     = "firebreak.audit.>"
	SubjectDead      = "firebreak.dead.>"
)

// Subject is the subject an exposure is published on:
// firebreak.exposures.<source>.<provider>.
func Subject(e *Event) string {
	return "firebreak.exposures." + Token(e.Source.Kind) + "." + Token(e.Secret.Provider)
}

// DeadSubject is where a message that exhausted its deliveries is copied.
func DeadSubject(e *Event) string {
	return "firebreak.dead." + Token(e.Source.Kind) + "." + Token(e.Secret.Provider)
}

// MaxIDLen is the longest id (an incident's, an approval's, an audit
// chain's) looked up on the bus. Firebreak's ids are under 40 bytes; a key or
// subject filter from a request goes into a NATS subject, and one longer
// than the server's control line (4 KiB) makes the server close the
// connection every component shares. A longer id is refused as unknown.
const MaxIDLen = 128

// AuditSubject is the audit subject of an incident.
func AuditSubject(incident string) string { return "firebreak.audit." + Token(incident) }

// Token makes s safe as one subject token ('.', '*', '>' and whitespace become '_').
func Token(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}
