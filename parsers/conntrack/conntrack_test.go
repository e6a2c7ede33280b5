package conntrack

import (
	"strings"
	"testing"
)

func TestParseEdgeCases(t *testing.T) {
	in := "cpu=0   \tfound=1 invalid=12 insert=0 insert_failed=3 drop=0 early_drop=0 error=0 search_restart=0 future_field=7\n" +
		"cpu=1 found=2 invalid=x insert_failed=4\n" +
		"conntrack v1.4.7 (conntrack-tools): 5 flow entries have been shown.\n" +
		"nonsense\n" +
		"entries=5\n" +
		"\n" +
		"262144\n"
	s, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.CPUs) != 2 || s.CPUs[1].CPU != 1 || s.CPUs[1].Line != 2 {
		t.Fatalf("cpus = %+v", s.CPUs)
	}
	if s.CPUs[0].Counters["future_field"] != 7 {
		t.Error("unknown field not kept")
	}
	tests := []struct {
		name string
		want uint64
		ok   bool
	}{
		{"insert_failed", 7, true},
		{"invalid", 12, true}, // cpu1's "x" is skipped with a warning
		{"found", 3, true},
		{"clash_resolve", 0, false},
	}
	for _, tt := range tests {
		if got, ok := s.Total(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Total(%s) = %d %v, want %d %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if s.Count == nil || s.Count.Value != 262144 || s.Count.Line != 7 {
		t.Errorf("count = %+v", s.Count)
	}
	if len(s.Other) != 1 || s.Other[0].Line != 5 {
		t.Errorf("other = %+v", s.Other)
	}
	if len(s.Notes) != 1 || s.Notes[0].Line != 3 {
		t.Errorf("notes = %+v", s.Notes)
	}
	if len(s.Warnings) != 2 || s.Warnings[0].Line != 2 || s.Warnings[1].Line != 4 {
		t.Errorf("warnings = %+v", s.Warnings)
	}
}
