package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

func TestWebhookCommandRequest(t *testing.T) {
	tests := []struct {
		args       []string
		method     string
		uri        string
		wantErrSub string
	}{
		{[]string{"stats"}, http.MethodGet, "/webhook_gateway/routes", ""},
		{[]string{"stats", "incode"}, http.MethodGet, "/webhook_gateway/routes/incode", ""},
		{[]string{"dead-letters", "incode"}, http.MethodGet, "/webhook_gateway/routes/incode/dead_letters", ""},
		{[]string{"show", "incode", "ev1"}, http.MethodGet, "/webhook_gateway/routes/incode/dead_letters/ev1", ""},
		{[]string{"replay", "incode", "ev1"}, http.MethodPost, "/webhook_gateway/routes/incode/dead_letters/ev1/replay", ""},
		{[]string{"delete", "incode", "ev1"}, http.MethodDelete, "/webhook_gateway/routes/incode/dead_letters/ev1", ""},
		{[]string{"stats", "a", "b"}, "", "", "stats takes 1 argument(s)"},
		{[]string{"dead-letters"}, "", "", "dead-letters takes 1 argument(s)"},
		{[]string{"dead-letters", "a", "b"}, "", "", "dead-letters takes 1 argument(s)"},
		{[]string{"show", "a"}, "", "", "show takes 2 argument(s)"},
		{[]string{"replay", "a"}, "", "", "replay takes 2 argument(s)"},
		{[]string{"delete"}, "", "", "delete takes 2 argument(s)"},
		{[]string{"health"}, http.MethodGet, "/webhook_gateway/health", ""},
		{[]string{"attach", "old", "new"}, http.MethodPost, "/webhook_gateway/routes/old/attach?to=new", ""},
		{[]string{"discard", "old"}, http.MethodDelete, "/webhook_gateway/routes/old?discard=true", ""},
		{[]string{"drain", "old", "http://app:3000/in"}, http.MethodPost, "/webhook_gateway/routes/old/drain?to=http%3A%2F%2Fapp%3A3000%2Fin", ""},
		{[]string{"attach", "old"}, "", "", "attach takes 2 argument(s)"},
		{[]string{"health", "x"}, "", "", "health takes 0 argument(s)"},
		{[]string{"purge", "a"}, "", "", `unknown webhook subcommand "purge"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			method, uri, err := webhookCommandRequest(tc.args)
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("got %s %s, %v; want an error containing %q", method, uri, err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if method != tc.method || uri != tc.uri {
				t.Fatalf("got %s %s, want %s %s", method, uri, tc.method, tc.uri)
			}
		})
	}
}
