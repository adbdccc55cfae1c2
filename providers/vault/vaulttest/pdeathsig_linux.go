package vaulttest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig kills the Vault server if the test process dies without
// stopping it (a crashed or killed `go test`).
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
