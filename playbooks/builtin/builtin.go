// Package builtin embeds the playbooks that ship with Firebreak.
package builtin

import "embed"

// FS holds the built-in playbooks (*.yaml).
//
//go:embed *.yaml
var FS embed.FS
