package auth

import (
	"context"
	"slices"
	"testing"
)

// bodyStub is a body-phase verifier that passes when the body equals ok.
type bodyStub struct{ ok string }

func (bodyStub) Method() string         { return "stub" }
func (bodyStub) Phase() Phase           { return PhaseBody }
func (bodyStub) Challenge() string      { return "" }
func (bodyStub) StripHeaders() []string { return []string{"x-sig"} }
func (b bodyStub) Verify(_ context.Context, r *Request) error {
	if string(r.Body) == b.ok {
		return nil
	}
	return errSignatureMismatch
}

func TestChain(t *testing.T) {
	o := testOptions()
	basic := mustBuild(t, Config{Method: "basic", Username: "u", Password: "p"}, o)
	bearer := mustBuild(t, Config{Method: "bearer", Token: "t"}, o)
	key := mustBuild(t, Config{Method: "api_key", Header: "Authorization", Value: "raw"}, o)
	body := bodyStub{ok: "signed"}

	cases := []struct {
		name       string
		vs         []Verifier
		header     []string
		wantHeader Decision
		body       string
		wantBody   bool
	}{
		{name: "empty chain passes", wantHeader: Pass, wantBody: true},
		{name: "basic passes", vs: []Verifier{basic, bearer}, header: []string{"Authorization", basicValue("u", "p")}, wantHeader: Pass},
		{name: "second line passes", vs: []Verifier{basic, bearer}, header: []string{"Authorization", "Bearer t"}, wantHeader: Pass},
		{name: "raw api key", vs: []Verifier{basic, key}, header: []string{"Authorization", "raw"}, wantHeader: Pass},
		{name: "none passes", vs: []Verifier{basic, bearer}, header: []string{"Authorization", "Bearer x"}, wantHeader: Fail},
		{name: "header fails, body remains", vs: []Verifier{basic, body}, header: []string{"Authorization", "Bearer x"}, wantHeader: NeedBody, body: "signed", wantBody: true},
		{name: "body fails", vs: []Verifier{body}, wantHeader: NeedBody, body: "forged", wantBody: false},
		{name: "header passes before body", vs: []Verifier{body, basic}, header: []string{"Authorization", basicValue("u", "p")}, wantHeader: Pass},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChain(tc.vs)
			r := &Request{Header: hdr(tc.header...), Now: testNow}
			if got := c.CheckHeaders(context.Background(), r); got != tc.wantHeader {
				t.Fatalf("CheckHeaders = %v, want %v", got, tc.wantHeader)
			}
			if tc.wantHeader == Pass && len(tc.vs) > 0 {
				return
			}
			r.Body = []byte(tc.body)
			if got := c.CheckBody(context.Background(), r); got != tc.wantBody {
				t.Fatalf("CheckBody = %v, want %v", got, tc.wantBody)
			}
		})
	}
}

func TestChainChallengesAndStrip(t *testing.T) {
	o := testOptions()
	c := NewChain([]Verifier{
		mustBuild(t, Config{Method: "basic", Username: "u", Password: "p"}, o),
		mustBuild(t, Config{Method: "bearer", Token: "t"}, o),
		mustBuild(t, Config{Method: "bearer", Token: "t2"}, o),
		mustBuild(t, Config{Method: "api_key", Header: "x-api-key", Value: "v"}, o),
		bodyStub{},
	})
	if got, want := c.Challenges(), []string{`Basic realm="webhook"`, `Bearer realm="webhook"`}; !slices.Equal(got, want) {
		t.Fatalf("Challenges = %q, want %q", got, want)
	}
	if got, want := c.ChallengesFor(hdr("Authorization", "Bearer zzz")), []string{`Basic realm="webhook"`, `Bearer realm="webhook", error="invalid_token"`}; !slices.Equal(got, want) {
		t.Fatalf("ChallengesFor = %q, want %q", got, want)
	}
	if got, want := c.StripHeaders(), []string{"Authorization", "X-Api-Key", "X-Sig"}; !slices.Equal(got, want) {
		t.Fatalf("StripHeaders = %q, want %q", got, want)
	}
}

func TestBuildChain(t *testing.T) {
	o := testOptions()
	if _, err := BuildChain([]Config{{Method: "none"}, {Method: "bearer", Token: "t"}}, o); err == nil || err.Error() != "auth none: cannot be combined with other auth lines" {
		t.Fatalf("none beside bearer: %v", err)
	}
	c, err := BuildChain([]Config{{Method: "none"}}, o)
	if err != nil || c.CheckHeaders(context.Background(), &Request{Header: hdr()}) != Pass {
		t.Fatalf("none alone: %v", err)
	}
	if _, err := BuildChain([]Config{{Method: "bearer"}}, o); err == nil {
		t.Fatal("bad line accepted")
	}
}

func TestDecisionString(t *testing.T) {
	for d, want := range map[Decision]string{Pass: "pass", Fail: "fail", NeedBody: "need_body"} {
		if d.String() != want {
			t.Fatalf("%d.String() = %q", d, d.String())
		}
	}
}
