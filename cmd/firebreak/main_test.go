package main

import (
	"testing"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
)

// TestMain removes the firebreak binary the tests built.
func TestMain(m *testing.M) { testbin.Main(m) }
