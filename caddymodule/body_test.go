package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestReadBounded: a body of known length is read into one buffer of exactly that size; one of
// unknown length grows from chunkedStep and never past the limit plus one byte; every byte of
// buffer is reserved in the budget, and a body that does not fit is refused before it is read.
func TestReadBounded(t *testing.T) {
	defer bodyBudget.limit.Store(bodyBudget.limit.Load())
	bodyBudget.limit.Store(1 << 20)

	var reserved int64
	body := bytes.Repeat([]byte("x"), 100_000)
	got, err := readBounded(bytes.NewReader(body), int64(len(body)), 200_000, &reserved)
	if err != nil || !bytes.Equal(got, body) || cap(got) != len(body) || reserved != int64(len(body)) {
		t.Fatalf("known length: err %v, len %d cap %d reserved %d", err, len(got), cap(got), reserved)
	}
	bodyBudget.release(reserved)

	reserved = 0
	got, err = readBounded(io.MultiReader(strings.NewReader(string(body))), -1, 200_000, &reserved)
	if err != nil || !bytes.Equal(got, body) || int64(cap(got)) > 200_001 || reserved != int64(cap(got)) {
		t.Fatalf("chunked: err %v, len %d cap %d reserved %d", err, len(got), cap(got), reserved)
	}
	bodyBudget.release(reserved)

	reserved = 0
	limited := http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(body)), 50_000)
	if _, err := readBounded(limited, -1, 50_000, &reserved); err == nil || reserved > 50_001 {
		t.Fatalf("over the limit: err %v, reserved %d", err, reserved)
	}
	bodyBudget.release(reserved)

	held := int64(900_000)
	if !bodyBudget.acquire(held) {
		t.Fatal("budget refused the first reservation")
	}
	reserved = 0
	if _, err := readBounded(bytes.NewReader(body), int64(200_000), 300_000, &reserved); !errors.Is(err, errBodyBudget) || reserved != 0 {
		t.Fatalf("over the budget: err %v, reserved %d", err, reserved)
	}
	bodyBudget.release(held)
	if u := bodyBudget.used.Load(); u != 0 {
		t.Fatalf("budget leaks %d bytes", u)
	}
}
