package delivery

import (
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// IsPermanent reports whether err is a refusal by the store that sending the same event again
// cannot change: a JetStream API error with a 4xx code (a header or message over the server's
// limits, a malformed request), or a message over the connection's payload limit. Such an error
// must not be answered with a retryable 503, or the vendor retries it forever. A full store, a
// lost quorum or a timeout is not permanent (those are 503s, or no API error at all).
func IsPermanent(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && !isWrongLastSeq(err)
}
