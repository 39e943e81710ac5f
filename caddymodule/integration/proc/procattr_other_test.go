//go:build !linux

package proc

import "syscall"

// childAttr has no parent-death signal outside Linux: t.Cleanup kills the
// gateway processes.
func childAttr() *syscall.SysProcAttr { return nil }
