package main

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestParseWrk(t *testing.T) {
	out := "Running 2s test @ http://127.0.0.1:1/webhooks/idwise\n  2 threads and 64 connections\n" +
		"WHGW {\"duration_us\":2000000,\"requests\":50000,\"status\":1000,\"socket\":3}\n"
	r, err := parseWrk(out)
	if err != nil || r.Requests != 50000 || r.StatusErrors != 1000 || r.SocketErrors != 3 || r.Elapsed != 2 || r.OKRPS != 24500 {
		t.Fatalf("parseWrk = %+v, %v", r, err)
	}
	for _, bad := range []string{"", "Requests/sec: 1\n", "WHGW {\"duration_us\":0}\n", "WHGW not json\n"} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk(%q): no error", bad)
		}
	}
	sum := combineWrk([]*wrkResult{r, {Requests: 10000, Elapsed: 1, CPUSeconds: 0.5, Slices: 1}})
	if sum.Requests != 60000 || sum.Elapsed != 3 || sum.OKRPS != 59000.0/3 || sum.Slices != 2 || math.Abs(sum.CPUPer10k-0.5/6) > 1e-12 {
		t.Fatalf("combineWrk = %+v", sum)
	}
	if combineWrk(nil) != nil {
		t.Fatal("combineWrk(nil)")
	}
}

// TestWrkScripts checks the Lua wrk runs: POST with the benchmark's credentials, a fixed
// IDWise body in one, and in the other a body built per request around a fresh eventId.
func TestWrkScripts(t *testing.T) {
	fixed, unique, err := wrkScripts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	f, u := read(fixed), read(unique)
	for _, s := range []string{f, u} {
		for _, want := range []string{`wrk.method = "POST"`, `"application/json"`, `"Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQtMDEyMzQ1Njc4OQ=="`, "function done(", "Finished Journey"} {
			if !strings.Contains(s, want) {
				t.Errorf("script lacks %s:\n%s", want, s)
			}
		}
	}
	if !strings.Contains(f, "wrk.body = ") || strings.Contains(f, "function request(") {
		t.Errorf("fixed script:\n%s", f)
	}
	if !strings.Contains(u, "function request(") || !strings.Contains(u, "counter = counter + 1") || !strings.Contains(u, `thread:set("tid"`) || !strings.Contains(u, "function init(args)") {
		t.Errorf("unique script:\n%s", u)
	}
}

func TestFindWrk(t *testing.T) {
	if p, err := findWrk("off"); p != "" || err != nil {
		t.Fatalf("off: %q %v", p, err)
	}
	if _, err := findWrk("/nonexistent/wrk"); err == nil {
		t.Fatal("a missing path is accepted")
	}
	if _, err := findWrk("auto"); err != nil {
		t.Fatalf("auto must not fail without wrk: %v", err)
	}
}
