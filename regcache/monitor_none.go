//go:build !linux || !cgo

package regcache

import "errors"

type uffdMonitor struct{ mode string }

type monCounters struct {
	Faults, FaultWakes, FaultErrs, Unmaps, Removes, Remaps, Overflows, Unknown uint64
}

func openMonitor(bool) (*uffdMonitor, error) {
	return nil, errors.New("regcache: memory monitor: userfaultfd needs Linux and cgo")
}
func (u *uffdMonitor) watch(start, n uintptr) error                        { return errors.ErrUnsupported }
func (u *uffdMonitor) unwatch(start, n uintptr)                            {}
func (u *uffdMonitor) pending() bool                                       { return false }
func (u *uffdMonitor) take(bool, func(start, end uintptr)) (overflow bool) { return false }
func (u *uffdMonitor) counters() monCounters                               { return monCounters{} }
func (u *uffdMonitor) close()                                              {}
