package load

import "testing"

// TestResultPassed protects a run's "passed" (Result.Passed, and so
// llmprobe_soak_last_success_timestamp_seconds and bench's exit status): a
// completed run passes when something succeeded, its error ratio is within
// error_ratio (when set; equal is within) and, for a sweep only, a max
// throughput was found.
func TestResultPassed(t *testing.T) {
	found := &Throughput{RequestsPerSecond: 5}
	for _, tc := range []struct {
		name     string
		r        Result
		errRatio float64
		want     bool
	}{
		{"rate run, all good", Result{Mode: ModeRate, Status: StatusCompleted, Summary: Summary{Successful: 3}}, 0, true},
		{"throughput run, all good", Result{Mode: ModeThroughput, Status: StatusCompleted, Summary: Summary{Successful: 3}}, 0, true},
		{"interrupted", Result{Mode: ModeRate, Status: StatusInterrupted, Summary: Summary{Successful: 3}}, 0, false},
		{"nothing succeeded", Result{Mode: ModeRate, Status: StatusCompleted}, 0, false},
		{"errors below error_ratio", Result{Mode: ModeRate, Status: StatusCompleted, Summary: Summary{Successful: 3, ErrorRatio: 0.09}}, 0.1, true},
		{"errors at error_ratio", Result{Mode: ModeRate, Status: StatusCompleted, Summary: Summary{Successful: 3, ErrorRatio: 0.1}}, 0.1, true},
		{"errors above error_ratio", Result{Mode: ModeRate, Status: StatusCompleted, Summary: Summary{Successful: 3, ErrorRatio: 0.11}}, 0.1, false},
		{"errors without error_ratio", Result{Mode: ModeRate, Status: StatusCompleted, Summary: Summary{Successful: 3, ErrorRatio: 0.9}}, 0, true},
		{"sweep that found a max", Result{Mode: ModeSweep, Status: StatusCompleted, Summary: Summary{Successful: 3}, DetectedMax: found}, 0, true},
		{"sweep that found none", Result{Mode: ModeSweep, Status: StatusCompleted, Summary: Summary{Successful: 3}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Success(tc.errRatio); got != tc.want {
				t.Errorf("passed = %v, want %v", got, tc.want)
			}
		})
	}
}
