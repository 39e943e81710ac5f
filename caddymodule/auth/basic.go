package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

const (
	headerAuthorization = "Authorization"
	basicChallenge      = `Basic realm="webhook"`
	// maxBasicDecoded bounds the stack buffer used to decode a Basic credential; longer
	// credentials are decoded on the heap.
	maxBasicDecoded = 512
)

// basicVerifier checks "Authorization: Basic ...". In the usual mode it decodes
// base64(user:pass) (RFC 7617) and compares both parts. In opaque mode (no username) it
// compares the raw credential after "Basic " with the password, which is what Attestr sends.
type basicVerifier struct {
	opaque bool
	user   digest
	pass   digest
}

func newBasic(user, pass string) (*basicVerifier, error) {
	if pass == "" {
		return nil, errors.New("auth basic: missing password")
	}
	if strings.Contains(user, ":") {
		return nil, errors.New("auth basic: username must not contain ':'")
	}
	return &basicVerifier{opaque: user == "", user: digestString(user), pass: digestString(pass)}, nil
}

func (v *basicVerifier) Method() string         { return MethodBasic }
func (v *basicVerifier) Phase() Phase           { return PhaseHeader }
func (v *basicVerifier) Challenge() string      { return basicChallenge }
func (v *basicVerifier) StripHeaders() []string { return []string{headerAuthorization} }

func (v *basicVerifier) Verify(_ context.Context, r *Request) error {
	h, err := headerValue(r.Header, headerAuthorization)
	if err != nil {
		return err
	}
	cred, ok := authScheme(h, "Basic")
	if !ok {
		return errMissingCredentials
	}
	if v.opaque {
		d := digestString(cred)
		if !d.equal(&v.pass) {
			return errCredentialsMismatch
		}
		return nil
	}
	var stack [maxBasicDecoded]byte
	user, pass, ok := decodeBasic(cred, stack[:])
	if !ok {
		return errMalformedCredentials
	}
	ud, pd := digest(sha256.Sum256(user)), digest(sha256.Sum256(pass))
	// Both comparisons always run, so the timing does not tell which part was wrong.
	if !ud.equal(&v.user) || !pd.equal(&v.pass) {
		return errCredentialsMismatch
	}
	return nil
}

// decodeBasic decodes an RFC 7617 credential (base64 of "user:pass", padding optional) into
// buf when it fits, and splits it at the first colon.
func decodeBasic(cred string, buf []byte) (user, pass []byte, ok bool) {
	cred = strings.TrimRight(cred, "=")
	enc := base64.RawStdEncoding
	if n := enc.DecodedLen(len(cred)); n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := enc.Decode(buf, readOnlyBytes(cred))
	if err != nil {
		return nil, nil, false
	}
	i := bytes.IndexByte(buf[:n], ':')
	if i < 0 {
		return nil, nil, false
	}
	return buf[:i], buf[i+1 : n], true
}

var _ Verifier = (*basicVerifier)(nil)
