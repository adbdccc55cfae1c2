package exposure

// Names of the on-call side of the topology (replay, approvals, control API
// tokens). Like the other names in this package they are part of Firebreak's
// contract.
const (
	// BucketTokens holds control-API bearer tokens, keyed by the SHA-256 of
	// the token: never the token itself.
	BucketTokens = "firebreak_tokens"
	// BucketApprovals holds pending approvals and their deadlines; a ticker
	// in every serve sweeps it, so a deadline survives restarts.
	BucketApprovals = "firebreak_approvals"

	// ControlAuditID is the chain name of control-API requests in the audit
	// stream (subject firebreak.audit.control). Incident ids start with
	// "inc_", so it never collides with an incident's chain.
	ControlAuditID = "control"

	// HeaderResume marks an exposure re-published to resume an incident
	// parked for an approval; its value is the approval id.
	HeaderResume = "Firebreak-Resume"
	// HeaderReplay marks an exposure re-published by `firebreak replay`; its
	// value is the replay id, HeaderReplayBy names who asked.
	HeaderReplay   = "Firebreak-Replay"
	HeaderReplayBy = "Firebreak-Replay-By"
)
