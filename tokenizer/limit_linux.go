//go:build linux && !race && !asan && !msan

package tokenizer

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// childMemoryLimited says whether limitChild bounds the child's memory.
// Race, address and memory sanitizer builds map shadow memory for every
// allocation, which an address-space limit would fail.
const childMemoryLimited = true

// limitChild bounds the child's address space: what is mapped already (the
// Go runtime reserves more than a gigabyte up front, and the file is read)
// plus 1 GiB
// and 16 times the file's size (a 22 MB, 250k-token BPE file takes about
// 160 MB), so a file that asks the library for an absurd allocation ends
// the child with "fatal error: out of memory" instead of exhausting the
// machine. CPU time is bounded too, in case the parent dies and leaves
// the child spinning.
func limitChild(size int) {
	limit := mappedBytes() + 1<<30 + 16*uint64(size)
	_ = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit})
	cpu := uint64(2 * checkTimeout.Seconds())
	_ = syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: cpu, Max: cpu})
}

// mappedBytes is the process's current virtual memory size (VmSize in
// /proc/self/status); 2 GiB where it cannot be read.
func mappedBytes() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 2 << 30
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 2 << 30
}
