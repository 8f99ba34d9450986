//go:build linux

package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() []int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return nil
	}
	var cpus []int
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// pinProcess confines every thread of this process to cpu, and the Go
// scheduler to one P; with realtime, it also puts every thread in the
// SCHED_FIFO class (priority 1), so that other work on a shared machine
// cannot delay a wake-up (the kernel still keeps 5 % of each second for
// other classes). Both act on one thread at a time: each of the existing
// ones is set (from /proc/self/task), and threads started later inherit
// them from the thread that starts them.
func pinProcess(cpu int, realtime bool) error {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("pinning to CPU %d: %w", cpu, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pinning thread %d to CPU %d: %w", tid, cpu, err)
		}
		if !realtime {
			continue
		}
		if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}, 0); err != nil && err != unix.ESRCH {
			return fmt.Errorf("realtime scheduling of thread %d: %w", tid, err)
		}
	}
	runtime.GOMAXPROCS(1)
	return nil
}
