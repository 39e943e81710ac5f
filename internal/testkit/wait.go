package testkit

import (
	"testing"
	"time"
)

// pollEvery is how often WaitFor checks: often enough that a test does not
// idle, rarely enough that polling an admin API does not load the machine.
const pollEvery = 20 * time.Millisecond

// WaitFor polls cond until it holds, and fails the test if it does not
// within the given time; what names the awaited state in the failure.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(pollEvery)
	}
}
