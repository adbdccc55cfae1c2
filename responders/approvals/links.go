package approvals

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Links mints and checks signed one-time approval links:
//
//	{base}/v1/approvals/{id}/link?decision=approve&for=alice&exp=1767225600&sig=<hex>
//
// sig is HMAC-SHA256 under Key over "id|decision|for|exp". A link is valid
// until exp (the approval's deadline) and once: the decision it makes is
// recorded with compare-and-set, so a second use finds the approval decided.
// Opening a link (GET) only shows a confirmation form; the decision is the
// form's POST, so link previews and mail scanners never decide.
type Links struct {
	Key  []byte // derived from the deployment's keyring: every instance verifies every link
	Base string // public base URL of the control API
}

// ErrBadLink is wrapped by Verify's errors.
var ErrBadLink = errors.New("invalid approval link")

func (l Links) sig(id, decision, forWho string, exp int64) string {
	m := hmac.New(sha256.New, l.Key)
	fmt.Fprintf(m, "%s|%s|%s|%d", id, decision, forWho, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// URL returns the link for one approver and decision ("approve" or "deny").
func (l Links) URL(id, decision, forWho string, exp time.Time) string {
	q := url.Values{}
	q.Set("decision", decision)
	q.Set("for", forWho)
	q.Set("exp", strconv.FormatInt(exp.Unix(), 10))
	q.Set("sig", l.sig(id, decision, forWho, exp.Unix()))
	return strings.TrimRight(l.Base, "/") + "/v1/approvals/" + url.PathEscape(id) + "/link?" + q.Encode()
}

// LinkClaim is what a verified link says.
type LinkClaim struct {
	ID       string
	Decision string // approve | deny
	For      string
}

// Verify checks a link's query for approval id at now.
func (l Links) Verify(id string, q url.Values, now time.Time) (LinkClaim, error) {
	c := LinkClaim{ID: id, Decision: q.Get("decision"), For: q.Get("for")}
	if c.Decision != "approve" && c.Decision != "deny" {
		return c, fmt.Errorf("%w: decision must be approve or deny", ErrBadLink)
	}
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil {
		return c, fmt.Errorf("%w: exp is not a unix time", ErrBadLink)
	}
	want := l.sig(id, c.Decision, c.For, exp)
	got := q.Get("sig")
	if len(l.Key) == 0 || !hmac.Equal([]byte(got), []byte(want)) {
		return c, fmt.Errorf("%w: signature does not match", ErrBadLink)
	}
	if now.Unix() > exp {
		return c, fmt.Errorf("%w: expired at %s", ErrBadLink, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}
