package exposure

import "slices"

// Blast is the blast radius of a leaked secret: the other places in the
// deployment's secret stores (Vault KV mounts) that hold the same secret,
// found by fingerprint. The same key in prod and dev is a reuse that raises
// the incident's severity; playbooks test it as
// `exposure.blast.reused_across_envs`.
type Blast struct {
	Searched         bool       `json:"searched" expr:"searched"` // a search ran (false: unknown)
	Hits             []BlastHit `json:"hits,omitempty" expr:"hits"`
	Environments     []string   `json:"environments,omitempty" expr:"environments"` // distinct environments of the hits
	ReusedAcrossEnvs bool       `json:"reused_across_envs" expr:"reused_across_envs"`
	Owners           []string   `json:"owners,omitempty" expr:"owners"`       // from the hits' custom metadata "owner"
	Truncated        bool       `json:"truncated,omitempty" expr:"truncated"` // the search stopped at its limit
	Scanned          int        `json:"scanned,omitempty" expr:"scanned"`     // secrets read
}

// BlastHit is one place that holds the secret.
type BlastHit struct {
	Store       string `json:"store" expr:"store"` // "vault"
	Mount       string `json:"mount" expr:"mount"`
	Path        string `json:"path" expr:"path"`
	Field       string `json:"field" expr:"field"`
	Version     int    `json:"version,omitempty" expr:"version"`
	Environment string `json:"environment" expr:"environment"`
	Owner       string `json:"owner,omitempty" expr:"owner"`
}

// Summarise fills Environments, ReusedAcrossEnvs and Owners from Hits.
// Reuse means two or more known environments (unknown does not count).
func (b *Blast) Summarise() {
	b.Environments, b.Owners = nil, nil
	known := 0
	for _, h := range b.Hits {
		if !slices.Contains(b.Environments, h.Environment) {
			b.Environments = append(b.Environments, h.Environment)
			if h.Environment != EnvUnknown && h.Environment != "" {
				known++
			}
		}
		if h.Owner != "" && !slices.Contains(b.Owners, h.Owner) {
			b.Owners = append(b.Owners, h.Owner)
		}
	}
	slices.Sort(b.Environments)
	b.ReusedAcrossEnvs = known >= 2
}
