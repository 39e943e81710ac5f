package auth

import (
	"errors"
	"time"
)

// HMACConfig configures the hmac method.
type HMACConfig struct {
	Header          string        `json:"header,omitempty"`
	Secrets         []string      `json:"secrets,omitempty"`
	Algorithm       string        `json:"algorithm,omitempty"`
	Encoding        string        `json:"encoding,omitempty"`
	Prefix          string        `json:"prefix,omitempty"`
	TimestampHeader string        `json:"timestamp_header,omitempty"`
	Tolerance       time.Duration `json:"tolerance,omitempty"`
	SignedPayload   string        `json:"signed_payload,omitempty"`
	Format          string        `json:"format,omitempty"`
}

func newHMAC(c HMACConfig, o Options) (Verifier, error) {
	return nil, errors.New("auth hmac: not available yet")
}
