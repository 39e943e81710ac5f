package caddymodule

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// The config's doc comments are what Caddy's JSON docs show a user, so they state the
// defaults; the values themselves live once, in delivery. This test keeps the two from drifting.
func TestDocumentedDefaults(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "handler.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{} // "Type.Field" -> doc text
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fld := range st.Fields.List {
			for _, name := range fld.Names {
				docs[ts.Name.Name+"."+name.Name] = fld.Doc.Text()
			}
		}
		return false
	})
	durations := map[string]time.Duration{
		"Handler.DedupWindow":      delivery.DefaultDedupWindow,
		"ForwardConfig.Timeout":    delivery.DefaultTimeout,
		"ForwardConfig.MaxAge":     delivery.DefaultMaxAge,
		"ForwardConfig.Retain":     delivery.DefaultRetain,
		"ForwardConfig.BackoffMin": delivery.DefaultBackoffMin,
		"ForwardConfig.BackoffMax": delivery.DefaultBackoffMax,
	}
	counts := map[string]int{
		"ForwardConfig.MaxAttempts": delivery.DefaultMaxAttempts,
		"ForwardConfig.Concurrency": delivery.DefaultConcurrency,
	}
	def := regexp.MustCompile(`Default: (?:the preset's, else )?([0-9][0-9a-z]*)`)
	documented := func(field string) string {
		t.Helper()
		doc, ok := docs[field]
		if !ok {
			t.Fatalf("%s: no such field in handler.go", field)
		}
		m := def.FindStringSubmatch(doc)
		if m == nil {
			t.Fatalf("%s: its doc states no default: %q", field, doc)
		}
		return m[1]
	}
	for field, want := range durations {
		got, err := time.ParseDuration(documented(field))
		if err != nil || got != want {
			t.Errorf("%s: the doc says %q, the code's default is %v", field, documented(field), want)
		}
	}
	for field, want := range counts {
		if got, err := strconv.Atoi(documented(field)); err != nil || got != want {
			t.Errorf("%s: the doc says %q, the code's default is %d", field, documented(field), want)
		}
	}
	if got := documented("ForwardConfig.MaxQueue"); got != "1" || delivery.DefaultMaxQueue != 1<<30 {
		t.Errorf("ForwardConfig.MaxQueue: the doc says %q GiB, the code's default is %d bytes", got, delivery.DefaultMaxQueue)
	}
}
