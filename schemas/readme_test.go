package schemas_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var updateREADME = flag.Bool("update", false, "rewrite the preset table in ../README.md")

const (
	tableStart = "<!-- preset table: written by `go test ./schemas -run TestREADMEPresetTable -update` -->\n"
	tableEnd   = "<!-- end of preset table -->\n"
)

// presetTable renders the preset table as the README shows it.
func presetTable(t *testing.T) string {
	var b strings.Builder
	b.WriteString("| preset | the schema requires | idempotency key (first that resolves; then `sha256:{webhook.body_sha256}`) | window | ack | why |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, p := range allPresets(t) {
		keys := make([]string, len(p.Keys))
		for i, k := range p.Keys {
			keys[i] = "`" + esc(k) + "`"
		}
		ack := fmt.Sprintf("%d `%s` `%s`", p.Ack.Status, p.Ack.ContentType, p.Ack.Body)
		fmt.Fprintf(&b, "| `%s` | `%s`: %s | %s | %s | %s | key: %s. Window: %s. |\n",
			presetName(p), p.Schema, esc(p.Requires), strings.Join(keys, "<br>"), window(p.DedupWindow), ack,
			esc(p.KeyReason), esc(p.WindowReason))
	}
	return b.String()
}

func window(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return fmt.Sprintf("%d min", d/time.Minute)
}

// TestREADMEPresetTable keeps the README's vendor guide equal to the preset
// table, so the two can never tell a user different things.
func TestREADMEPresetTable(t *testing.T) {
	const path = "../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	i, j := strings.Index(readme, tableStart), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no preset table markers (%q … %q)", tableStart, tableEnd)
	}
	want := presetTable(t)
	if got := readme[i+len(tableStart) : j]; got != want {
		if *updateREADME {
			readme = readme[:i+len(tableStart)] + want + readme[j:]
			if err := os.WriteFile(path, []byte(readme), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the README's preset table differs from the preset table; run with -update. Want:\n%s", want)
	}
	for _, p := range allPresets(t) {
		if p.Requires == "" || p.KeyReason == "" || p.WindowReason == "" || p.DedupWindow == 0 {
			t.Errorf("%s: Requires, KeyReason, WindowReason and DedupWindow must all be set", presetName(p))
		}
	}
}
