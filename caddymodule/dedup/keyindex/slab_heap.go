//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package keyindex

// allocSlots returns n zeroed words from the Go heap where there is no anonymous mmap.
// The slice holds no pointers, so the garbage collector never scans it, but it does
// count toward the heap goal (GOGC), so RSS can reach about twice the table.
func allocSlots(n int) (words []uint64, mapped int, free func(), err error) {
	return make([]uint64, n), n * 8, func() {}, nil
}
