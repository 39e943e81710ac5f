//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package keyindex

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// allocSlots returns at least n zeroed uint64 words (the whole of the pages mapped) in
// an anonymous private mapping, outside the Go heap: the garbage collector neither
// scans them nor counts them toward its heap goal, so a table of N bytes costs N bytes
// of RSS once touched, not about 2N. mapped is the size of the mapping.
func allocSlots(n int) (words []uint64, mapped int, free func(), err error) {
	page := os.Getpagesize()
	size := (n*8 + page - 1) / page * page
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("mapping %d bytes for the key index: %v", size, err)
	}
	words = unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), size/8)
	return words, size, func() { _ = syscall.Munmap(b) }, nil
}
