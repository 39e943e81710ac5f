package caddymodule

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// caddyfileBlock is a config type that parses its own Caddyfile block (*Handler, *App).
type caddyfileBlock[T any] interface {
	*T
	caddyfile.Unmarshaler
}

// expectParses parses input into a new T and wants exactly want.
func expectParses[T any, P caddyfileBlock[T]](t *testing.T, input string, want *T) {
	t.Helper()
	got := P(new(T))
	if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !reflect.DeepEqual((*T)(got), want) {
		t.Fatalf("got\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
	}
}

// expectParseError parses input into a new T and wants an error that contains want.
func expectParseError[T any, P caddyfileBlock[T]](t *testing.T, input, want string) {
	t.Helper()
	got := P(new(T))
	err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	if err == nil {
		t.Fatalf("no error, want one containing %q; parsed %s", want, mustJSON(t, got))
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
}
