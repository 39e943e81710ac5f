package delivery

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// scanConsumer creates the short-lived ordered consumer of one scan of st (a listing, a lookup
// by id, an orphan's figures) and returns it with the func that deletes it. Left alone, an
// ordered consumer lingers until its inactivity threshold, and the store caps the number of
// consumers: an admin client polling a listing must not use them up.
func scanConsumer(ctx context.Context, st jetstream.Stream, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, func(), error) {
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	return c, func() {
		if ci := c.CachedInfo(); ci != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
			defer cancel()
			_ = st.DeleteConsumer(dctx, ci.Name)
		}
	}, nil
}
