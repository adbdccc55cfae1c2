package awsemu

import (
	"net/http"
	"testing"
	"time"
)

// TestSigV4DocumentedExample checks the verifier against the worked example
// of the SigV4 documentation (GET /test.txt from examplebucket, with a Range
// header), whose signature AWS publishes.
func TestSigV4DocumentedExample(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Host = "examplebucket.s3.amazonaws.com"
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	lookup := func(id string) (string, bool) {
		return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", id == "AKIAIOSFODNN7EXAMPLE"
	}
	now := time.Date(2013, 5, 24, 0, 5, 0, 0, time.UTC)
	if _, err := Verify(r, nil, lookup, now, 15*time.Minute); err != nil {
		t.Fatalf("documented example refused: %v", err)
	}
	// One changed header value, the wrong secret, a stale date: refused.
	r.Header.Set("Range", "bytes=0-10")
	if _, err := Verify(r, nil, lookup, now, 15*time.Minute); err == nil || err.Code != "SignatureDoesNotMatch" {
		t.Fatalf("tampered header = %v", err)
	}
	r.Header.Set("Range", "bytes=0-9")
	wrong := func(string) (string, bool) { return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ", true }
	if _, err := Verify(r, nil, wrong, now, 15*time.Minute); err == nil || err.Code != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret = %v", err)
	}
	if _, err := Verify(r, nil, lookup, now.Add(time.Hour), 15*time.Minute); err == nil || err.Code != "SignatureDoesNotMatch" {
		t.Fatalf("stale date = %v", err)
	}
	unknown := func(string) (string, bool) { return "", false }
	if _, err := Verify(r, nil, unknown, now, 15*time.Minute); err == nil || err.Code != "InvalidClientTokenId" {
		t.Fatalf("unknown key = %v", err)
	}
}
