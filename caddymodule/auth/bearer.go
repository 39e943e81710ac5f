package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

const (
	bearerChallenge        = `Bearer realm="webhook"`
	bearerInvalidChallenge = `Bearer realm="webhook", error="invalid_token"`
)

// bearerVerifier compares the credential of "Authorization: Bearer <token>" with a static token.
type bearerVerifier struct {
	token digest
}

func newBearer(token string) (*bearerVerifier, error) {
	if token == "" {
		return nil, errors.New("auth bearer: missing token")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, errors.New("auth bearer: token must not contain whitespace")
	}
	return &bearerVerifier{token: digestString(token)}, nil
}

func (v *bearerVerifier) Method() string         { return MethodBearer }
func (v *bearerVerifier) Phase() Phase           { return PhaseHeader }
func (v *bearerVerifier) Challenge() string      { return bearerChallenge }
func (v *bearerVerifier) StripHeaders() []string { return []string{headerAuthorization} }

// ChallengeFor adds error="invalid_token" when a bearer token was presented (RFC 6750 §3.1);
// a request without one gets the plain challenge (RFC 6750 §3).
func (v *bearerVerifier) ChallengeFor(h http.Header) string { return bearerChallengeFor(h) }

func (v *bearerVerifier) Verify(_ context.Context, r *Request) error {
	tok, err := bearerToken(r.Header)
	if err != nil {
		return err
	}
	d := digestString(tok)
	if !d.equal(&v.token) {
		return errCredentialsMismatch
	}
	return nil
}

// bearerToken extracts the token of "Authorization: Bearer <token>" (RFC 6750 §2.1).
func bearerToken(h http.Header) (string, error) {
	v, err := headerValue(h, headerAuthorization)
	if err != nil {
		return "", err
	}
	tok, ok := authScheme(v, "Bearer")
	if !ok {
		return "", errMissingCredentials
	}
	if strings.IndexByte(tok, ' ') >= 0 {
		return "", errMalformedToken
	}
	return tok, nil
}

// bearerChallengeFor is the RFC 6750 challenge for a failed request with header h.
func bearerChallengeFor(h http.Header) string {
	if _, err := bearerToken(h); err == nil {
		return bearerInvalidChallenge
	}
	return bearerChallenge
}

var (
	_ Verifier          = (*bearerVerifier)(nil)
	_ RequestChallenger = (*bearerVerifier)(nil)
)
