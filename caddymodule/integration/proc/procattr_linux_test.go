package proc

import "syscall"

// childAttr makes the kernel kill a gateway process when the test binary
// dies (a panic, go test's -timeout), so that no gateway outlives its test.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
