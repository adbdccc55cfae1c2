package stack_test

import (
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

func ghSignature(key secret.Value, b []byte) string { return ghingest.SignatureHeader(key, b) }
