package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// The raw engine sends HTTP/1.1 over one keep-alive TCP connection per worker and
// target, without net/http: the request head (request line, Host, User-Agent,
// Content-Type) is built once per connection, each request is one write of head,
// credentials, Content-Length and body from a reused buffer, and the response is
// parsed only for what the report needs (status, X-Webhook-Duplicate, framing). It
// costs the load generator a fraction of net/http's client per request (no
// per-connection read and write goroutines, no header maps), so that the generator does
// not set the ceiling of what it measures on a small machine.

// errProtocol marks a response the raw engine cannot parse.
var errProtocol = errors.New("malformed HTTP response")

// maxHeaderLine bounds one response line (status or header field).
const maxHeaderLine = 16 << 10

// rawTarget is what every connection to one URL shares.
type rawTarget struct {
	addr string // host:port to dial
	head []byte // request line and fixed header fields
}

// newRawTarget checks that u is plain http and builds its request head.
func newRawTarget(u string) (*rawTarget, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	if pu.Scheme != "http" || pu.Host == "" || pu.User != nil {
		return nil, fmt.Errorf("raw engine: %q: want http://host[:port]/path", u)
	}
	addr := pu.Host
	if pu.Port() == "" {
		addr = net.JoinHostPort(pu.Hostname(), "80")
	}
	var h bytes.Buffer
	fmt.Fprintf(&h, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nContent-Type: application/json\r\n", pu.RequestURI(), pu.Host, UserAgent)
	return &rawTarget{addr: addr, head: h.Bytes()}, nil
}

// rawConn is one worker's connection to one target. It is not safe for concurrent use.
type rawConn struct {
	t       *rawTarget
	timeout time.Duration
	conn    net.Conn
	br      *bufio.Reader
	stop    func() bool // undoes the context watch of conn
	req     []byte      // the request being written, reused
	hdr     http.Header // the signer's fields, reused
}

// send writes one webhook and reads its answer. A non-nil error means no answer was
// read; the connection is then closed, and the next send dials a new one.
func (c *rawConn) send(ctx context.Context, s *senderauth.Signer, m vendors.Message, now time.Time) (status int, dup bool, err error) {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return 0, false, err
		}
	}
	req, err := c.build(ctx, s, m, now)
	if err != nil {
		return 0, false, err
	}
	_ = c.conn.SetDeadline(now.Add(c.timeout))
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return 0, false, err
	}
	status, dup, keep, err := readResponse(c.br)
	if err != nil {
		c.close()
		return 0, false, err
	}
	if !keep {
		c.close()
	}
	return status, dup, nil
}

func (c *rawConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: min(c.timeout, 5*time.Second), KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, maxHeaderLine)
	} else {
		c.br.Reset(conn)
	}
	c.conn = conn
	// A cancelled run unblocks a read in flight at once instead of at its timeout.
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return nil
}

func (c *rawConn) close() {
	if c.conn != nil {
		c.stop()
		_ = c.conn.Close()
		c.conn = nil
	}
}

// build renders the request into c.req.
func (c *rawConn) build(ctx context.Context, s *senderauth.Signer, m vendors.Message, now time.Time) ([]byte, error) {
	if c.hdr == nil {
		c.hdr = make(http.Header, 4)
	}
	b, err := buildRequest(ctx, c.req[:0], c.t.head, c.hdr, s, m, now)
	if err != nil {
		return nil, err
	}
	c.req = b
	return b, nil
}

// buildRequest appends one request to dst: the fixed head, the signer's fields for this
// body (set into the reused hdr), Content-Length, and the body.
func buildRequest(ctx context.Context, dst, head []byte, hdr http.Header, s *senderauth.Signer, m vendors.Message, now time.Time) ([]byte, error) {
	b := append(dst, head...)
	if s != nil {
		clear(hdr)
		if err := s.Apply(ctx, hdr, m.IDs.MessageID(), m.Body, now); err != nil {
			return nil, err
		}
		for k, vs := range hdr {
			for _, v := range vs {
				if !validField(k, v) {
					return nil, fmt.Errorf("raw engine: header field %q has a character HTTP/1.1 does not allow", k)
				}
				b = append(b, k...)
				b = append(b, ": "...)
				b = append(b, v...)
				b = append(b, "\r\n"...)
			}
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(m.Body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, m.Body...), nil
}

// validField reports whether a header field can be written as is: a token name and a
// value without control characters other than tab (no CR or LF to split the request).
func validField(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if ch := name[i]; ch <= ' ' || ch >= 0x7f || ch == ':' {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if ch := value[i]; (ch < ' ' && ch != '\t') || ch == 0x7f {
			return false
		}
	}
	return true
}

// readResponse reads one HTTP/1.1 response (skipping 1xx interim ones) and discards its
// body. keep is false when the connection cannot carry another request: the server
// said Connection: close, or the body runs to the end of the connection.
func readResponse(br *bufio.Reader) (status int, dup, keep bool, err error) {
	for {
		status, dup, keep, err = readOne(br)
		if err != nil || status >= 200 || status == http.StatusSwitchingProtocols {
			return status, dup, keep, err
		}
	}
}

func readOne(br *bufio.Reader) (status int, dup, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, false, false, err
	}
	// "HTTP/1.x NNN reason"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, false, errProtocol
	}
	status, ok := parseDecimal(line[9:12])
	if !ok || status < 100 || (len(line) > 12 && line[12] != ' ') {
		return 0, false, false, errProtocol
	}
	keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
	length, chunked := int64(-1), false
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, false, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, false, errProtocol
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseDecimal(value)
			if !ok {
				return 0, false, false, errProtocol
			}
			length = int64(n)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
			if !chunked {
				return 0, false, false, errProtocol
			}
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		case bytes.EqualFold(name, []byte("X-Webhook-Duplicate")):
			dup = bytes.Equal(value, []byte("true"))
		}
	}
	switch {
	case status < 200 || status == http.StatusNoContent || status == http.StatusNotModified:
		return status, dup, keep, nil
	case chunked:
		return status, dup, keep, discardChunked(br)
	case length >= 0:
		if length > maxDrain {
			return status, dup, false, nil // not worth draining: drop the connection
		}
		_, err := br.Discard(int(length))
		return status, dup, keep, err
	}
	return status, dup, false, nil // body until close: this connection is done
}

// readLine returns one line without its CRLF (or bare LF).
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errProtocol
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// discardChunked reads a chunked body and its trailer, up to maxDrain bytes of data.
func discardChunked(br *bufio.Reader) error {
	var total int64
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, ok := parseHex(bytes.TrimSpace(line))
		if !ok || total+n > maxDrain {
			return errProtocol
		}
		total += n
		if n == 0 {
			for { // trailer fields until the empty line
				line, err := readLine(br)
				if err != nil || len(line) == 0 {
					return err
				}
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		if line, err := readLine(br); err != nil || len(line) != 0 {
			return cmpErr(err, errProtocol)
		}
	}
}

// parseDecimal reads 1 to 18 decimal digits without allocating (strconv's errors hold
// a copy of the input).
func parseDecimal(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int(ch-'0')
	}
	return n, true
}

// parseHex reads 1 to 15 hex digits: a chunk size.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}
