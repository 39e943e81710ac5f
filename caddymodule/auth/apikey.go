package auth

import (
	"context"
	"errors"
)

// apiKeyVerifier compares the whole value of one header with the configured value. With
// header Authorization the scheme is part of the value, so a bare key (Unico's
// "Authorization: abc123") and "Bearer abc123" are both expressible.
type apiKeyVerifier struct {
	header string
	value  digest
	strip  []string
}

func newAPIKey(header, value string) (*apiKeyVerifier, error) {
	h, err := canonicalHeader(MethodAPIKey, "header", header)
	if err != nil {
		return nil, err
	}
	if value == "" {
		return nil, errors.New("auth api_key: missing value")
	}
	return &apiKeyVerifier{header: h, value: digestString(value), strip: []string{h}}, nil
}

func (v *apiKeyVerifier) Method() string         { return MethodAPIKey }
func (v *apiKeyVerifier) Phase() Phase           { return PhaseHeader }
func (v *apiKeyVerifier) Challenge() string      { return "" }
func (v *apiKeyVerifier) StripHeaders() []string { return v.strip }

func (v *apiKeyVerifier) Verify(_ context.Context, r *Request) error {
	h, err := headerValue(r.Header, v.header)
	if err != nil {
		return err
	}
	d := digestString(h)
	if !d.equal(&v.value) {
		return errCredentialsMismatch
	}
	return nil
}

var _ Verifier = (*apiKeyVerifier)(nil)
