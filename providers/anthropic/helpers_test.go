package anthropic_test

import "github.com/firebreak-sec/firebreak/providers/emulator"

func emulatorFault(status int) emulator.Fault { return emulator.Fault{Status: status, Count: 1} }
