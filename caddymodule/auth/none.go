package auth

import "context"

// noneVerifier is "auth none": it accepts every request. The adapter refuses it beside
// other auth lines (see BuildChain).
type noneVerifier struct{}

func (noneVerifier) Method() string                         { return MethodNone }
func (noneVerifier) Phase() Phase                           { return PhaseHeader }
func (noneVerifier) Verify(context.Context, *Request) error { return nil }
func (noneVerifier) Challenge() string                      { return "" }
func (noneVerifier) StripHeaders() []string                 { return nil }

var _ Verifier = noneVerifier{}
