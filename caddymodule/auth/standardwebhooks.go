package auth

import (
	"errors"
	"time"
)

// StandardWebhooksConfig configures the standard_webhooks method.
type StandardWebhooksConfig struct {
	Secrets   []string      `json:"secrets,omitempty"`
	Tolerance time.Duration `json:"tolerance,omitempty"`
}

func newStandardWebhooks(c StandardWebhooksConfig, o Options) (Verifier, error) {
	return nil, errors.New("auth standard_webhooks: not available yet")
}
