package cli

import "testing"

func TestMemoryLimitInputs(t *testing.T) {
	if got := memTotal([]byte("MemTotal:       24684912 kB\nMemFree:        20727488 kB\n")); got != 24684912<<10 {
		t.Errorf("memTotal = %d", got)
	}
	for _, in := range []string{"", "MemFree: 1 kB\n", "MemTotal: x kB\n", "MemTotal: -5 kB\n"} {
		if got := memTotal([]byte(in)); got != 0 {
			t.Errorf("memTotal(%q) = %d, want 0", in, got)
		}
	}
	if got := cgroupLimit([]byte("4294967296\n")); got != 4<<30 {
		t.Errorf("cgroupLimit = %d", got)
	}
	for _, in := range []string{"max\n", "", "0", "-1"} {
		if got := cgroupLimit([]byte(in)); got != 0 {
			t.Errorf("cgroupLimit(%q) = %d, want 0", in, got)
		}
	}
}
