package caddymodule

import (
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{"50/s", 50, ""},
		{"1/sec", 1, ""},
		{"10/second", 10, ""},
		{"120/m", 2, ""},
		{"60/min", 1, ""},
		{"30/minute", 0.5, ""},
		{"3600/h", 1, ""},
		{"7200/hour", 2, ""},
		{"0.5/s", 0.5, ""},
		{"50", 0, "want <n>/<unit>"},
		{"", 0, "want <n>/<unit>"},
		{"/s", 0, "count must be a positive number"},
		{"0/s", 0, "count must be a positive number"},
		{"-5/s", 0, "count must be a positive number"},
		{"x/s", 0, "count must be a positive number"},
		{"NaN/s", 0, "count must be a positive number"},
		{"5/d", 0, "unit must be s, m or h"},
		{"5/", 0, "unit must be s, m or h"},
		{"5/S", 0, "unit must be s, m or h"},
		{"5/s/s", 0, "unit must be s, m or h"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseRate(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseRate(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRate(%q): %v", tc.in, err)
			}
			if diff := got - tc.want; diff > 1e-9 || diff < -1e-9 {
				t.Fatalf("parseRate(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
