package awsemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SigV4 verification, written from the "Create a signed AWS API request"
// procedure of the IAM User Guide (canonical request → string to sign →
// signing key HMAC chain → signature), independently of the AWS SDK the
// client signs with, so a client that drifts from the real algorithm fails
// here as it would against AWS.

// Auth is a parsed "Authorization: AWS4-HMAC-SHA256 …" header.
type Auth struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// Scope is the credential scope "date/region/service/aws4_request".
func (a Auth) Scope() string { return a.Date + "/" + a.Region + "/" + a.Service + "/aws4_request" }

// SigError is a refusal with AWS's error code.
type SigError struct {
	Code    string // MissingAuthenticationToken, IncompleteSignature, SignatureDoesNotMatch, InvalidClientTokenId
	Message string
}

func (e *SigError) Error() string { return e.Code + ": " + e.Message }

// ParseAuth parses the Authorization header.
func ParseAuth(h string) (Auth, *SigError) {
	if h == "" {
		return Auth{}, &SigError{"MissingAuthenticationToken", "Request is missing Authentication Token"}
	}
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return Auth{}, &SigError{"IncompleteSignature", "Unsupported authorization type: only AWS4-HMAC-SHA256 is accepted"}
	}
	var a Auth
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return Auth{}, &SigError{"IncompleteSignature", "Credential must have the form ACCESS_KEY/yyyymmdd/region/service/aws4_request"}
			}
			a.AccessKeyID, a.Date, a.Region, a.Service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			a.Signature = v
		}
	}
	if a.AccessKeyID == "" || len(a.SignedHeaders) == 0 || a.Signature == "" {
		return Auth{}, &SigError{"IncompleteSignature", "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'"}
	}
	return a, nil
}

// uriEncode is SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ is
// percent-encoded (uppercase hex); '/' too unless path is set.
func uriEncode(s string, path bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && path:
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

func canonicalQuery(raw string) string {
	q, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, false)+"="+uriEncode(v, false))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func headerValue(r *http.Request, name string) (string, bool) {
	switch name {
	case "host":
		return r.Host, r.Host != ""
	case "content-length":
		if r.ContentLength < 0 {
			return "", false
		}
		return strconv.FormatInt(r.ContentLength, 10), true
	}
	vs, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false
	}
	for i, v := range vs {
		vs[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vs, ","), true
}

// CanonicalRequest builds the canonical request of r for signedHeaders.
func CanonicalRequest(r *http.Request, body []byte, signedHeaders []string) (string, *SigError) {
	var ch strings.Builder
	for _, h := range signedHeaders {
		v, ok := headerValue(r, h)
		if !ok {
			return "", &SigError{"SignatureDoesNotMatch", "signed header " + h + " is missing from the request"}
		}
		ch.WriteString(h + ":" + v + "\n")
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = uriEncode(p, true)
	}
	sum := sha256.Sum256(body)
	return strings.Join([]string{r.Method, path, canonicalQuery(r.URL.RawQuery), ch.String(),
		strings.Join(signedHeaders, ";"), hex.EncodeToString(sum[:])}, "\n"), nil
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Signature computes the SigV4 signature of a canonical request.
func Signature(secretKey, amzDate string, a Auth, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + a.Scope() + "\n" + hex.EncodeToString(h[:])
	k := hmacSHA256([]byte("AWS4"+secretKey), a.Date)
	k = hmacSHA256(k, a.Region)
	k = hmacSHA256(k, a.Service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, sts))
}

// Verify checks r's SigV4 signature. lookup returns the secret of an access
// key id (ok false: AWS does not know the key, or it is inactive). now and
// maxSkew bound X-Amz-Date (AWS allows 15 minutes).
func Verify(r *http.Request, body []byte, lookup func(akid string) (string, bool), now time.Time, maxSkew time.Duration) (Auth, *SigError) {
	a, serr := ParseAuth(r.Header.Get("Authorization"))
	if serr != nil {
		return a, serr
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return a, &SigError{"IncompleteSignature", "X-Amz-Date is missing or not in the form yyyymmddThhmmssZ"}
	}
	if !strings.HasPrefix(amzDate, a.Date) {
		return a, &SigError{"SignatureDoesNotMatch", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"}
	}
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return a, &SigError{"SignatureDoesNotMatch", "Signature expired: " + amzDate + " is now earlier than " + now.Add(-maxSkew).UTC().Format("20060102T150405Z")}
	}
	signed := map[string]bool{}
	for _, h := range a.SignedHeaders {
		signed[h] = true
	}
	if !signed["host"] || !signed["x-amz-date"] {
		return a, &SigError{"SignatureDoesNotMatch", "SignedHeaders must include host and x-amz-date"}
	}
	secretKey, ok := lookup(a.AccessKeyID)
	if !ok {
		return a, &SigError{"InvalidClientTokenId", "The security token included in the request is invalid."}
	}
	canonical, serr := CanonicalRequest(r, body, a.SignedHeaders)
	if serr != nil {
		return a, serr
	}
	want := Signature(secretKey, amzDate, a, canonical)
	if !hmac.Equal([]byte(want), []byte(a.Signature)) {
		return a, &SigError{"SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return a, nil
}
