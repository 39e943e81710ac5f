package testkit

import "testing"

// SkipShort skips the test under -short. what says why the test is slow
// ("starts a real Caddy", "waits out a 12s store outage"), so that the skip
// line in the test log explains itself.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + ": runs without -short")
	}
}
