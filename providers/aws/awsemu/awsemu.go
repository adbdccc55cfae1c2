// Package awsemu emulates the AWS STS and IAM Query APIs Firebreak uses, over
// real HTTP (emulator.Server), for tests and the demo. Both services answer
// on one base URL (the SDK clients are pointed at it with BaseEndpoint); the
// credential scope of each request's signature says which service it was
// signed for, and an action of the other service is refused.
//
// Every request must carry a valid SigV4 signature (see Verify): no
// Authorization → 403 MissingAuthenticationToken; an unknown or inactive
// access key → 403 InvalidClientTokenId; a bad signature, a wrong scope or an
// X-Amz-Date more than 15 minutes off → 403 SignatureDoesNotMatch. Requests
// are POST / with a form body (or GET with the query), Action and Version,
// as the Query protocol defines; answers are XML:
//
//   - sts:GetCallerIdentity → GetCallerIdentityResult{Arn, UserId, Account}
//   - iam:GetAccessKeyLastUsed(AccessKeyId) → {UserName, AccessKeyLastUsed{
//     LastUsedDate, ServiceName, Region}}; 404 NoSuchEntity for a key IAM no
//     longer has (an emulator choice: the reference lists only common errors)
//   - iam:ListAccessKeys(UserName) → AccessKeyMetadata members, IsTruncated
//   - iam:UpdateAccessKey(AccessKeyId, Status Active|Inactive, UserName)
//   - iam:DeleteAccessKey(AccessKeyId, UserName)
//   - iam:CreateAccessKey(UserName) → AccessKey{…, SecretAccessKey}; 409
//     LimitExceeded "Cannot exceed quota for AccessKeysPerUser: 2"
//
// Authorization is modelled as far as Firebreak meets it: IAM actions need a
// user marked admin (403 AccessDenied otherwise), and a user with the
// AWSCompromisedKeyQuarantineV2 policy attached is denied
// iam:UpdateAccessKey, DeleteAccessKey and CreateAccessKey (AccessDenied
// "with an explicit deny in an identity-based policy"), which is why
// Firebreak acts as its own principal. Errors have the Query protocol shape
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>;
// throttling is 400 Throttling "Rate exceeded", or an injected 429.
package awsemu

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Account is the emulated account id.
const Account = "123456789012"

// QuarantinePolicy is AWS's managed policy for exposed keys.
const QuarantinePolicy = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2"

// Emulator is an emulated AWS account.
type Emulator struct {
	*emulator.Server
	// Now is the emulator's clock (for signature expiry).
	Now func() time.Time

	mu    sync.Mutex
	users map[string]*user
	keys  map[string]*accessKey // by access key id
	calls []Call
}

type user struct {
	name, id    string
	admin       bool
	quarantined bool
}

type accessKey struct {
	id, secret, user, status string
	created                  time.Time
	lastUsed                 time.Time
	lastService              string
	deleted                  bool
}

// Call is one authenticated action the emulator executed.
type Call struct {
	Action    string
	Principal string // user name of the signing key
	Params    url.Values
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{Now: time.Now, users: map[string]*user{}, keys: map[string]*accessKey{}}
	e.Server = emulator.New(http.HandlerFunc(e.serve), ErrorBody)
	return e
}

// AddUser creates a user. admin lets its keys call IAM actions.
func (e *Emulator) AddUser(name string, admin bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[name] = &user{name: name, id: "AIDA" + keystore.RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17), admin: admin}
}

// Quarantine attaches AWSCompromisedKeyQuarantineV2 to the user, as AWS does
// when it finds one of its keys exposed.
func (e *Emulator) Quarantine(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u := e.users[name]; u != nil {
		u.quarantined = true
	}
}

// NewKeyPair returns a well-formed access key id and secret key.
func NewKeyPair() (id, secretKey string) {
	return "AKIA" + keystore.RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
		keystore.RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
}

// AddKey creates an active access key for user and returns id and secret.
func (e *Emulator) AddKey(userName string) (id, secretKey string) {
	id, secretKey = NewKeyPair()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys[id] = &accessKey{id: id, secret: secretKey, user: userName, status: "Active", created: e.Now().UTC()}
	return id, secretKey
}

// KeyStatus returns "Active", "Inactive", or "" for a deleted or unknown key.
func (e *Emulator) KeyStatus(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keys[id]
	if k == nil || k.deleted {
		return ""
	}
	return k.status
}

// LiveSecret reports whether a secret key belongs to an active key.
func (e *Emulator) LiveSecret(secretKey string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range e.keys {
		if k.secret == secretKey {
			return !k.deleted && k.status == "Active"
		}
	}
	return false
}

// Calls returns the authenticated actions executed, in order.
func (e *Emulator) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// ---- HTTP ----

var stsActions = map[string]bool{"GetCallerIdentity": true}

func ns(service string) string {
	if service == "sts" {
		return "https://sts.amazonaws.com/doc/2011-06-15/"
	}
	return "https://iam.amazonaws.com/doc/2010-05-08/"
}

func requestID() string {
	b := keystore.RandomFrom("0123456789abcdef", 32)
	return b[:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:]
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// errorXML renders the Query protocol's error document.
func errorXML(service, typ, code, msg string) []byte {
	return []byte(fmt.Sprintf(`<ErrorResponse xmlns="%s">
  <Error>
    <Type>%s</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>%s</RequestId>
</ErrorResponse>`, ns(service), typ, code, esc(msg), requestID()))
}

// ErrorBody renders an injected fault as IAM would.
func ErrorBody(status int) (string, []byte) {
	typ, code, msg := "Sender", "ValidationError", http.StatusText(status)
	switch {
	case status == http.StatusTooManyRequests:
		code, msg = "Throttling", "Rate exceeded"
	case status == http.StatusUnauthorized:
		code = "AuthFailure"
	case status == http.StatusForbidden:
		code, msg = "AccessDenied", "User is not authorized to perform this action"
	case status == http.StatusNotFound:
		code, msg = "NoSuchEntity", "The Access Key cannot be found."
	case status >= 500:
		typ, code, msg = "Receiver", "ServiceFailure", "Request processing has failed due to an unknown error, exception or failure."
	}
	return "text/xml", errorXML("iam", typ, code, msg)
}

func writeErr(w http.ResponseWriter, status int, service, code, msg string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(errorXML(service, typ, code, msg))
}

func writeOK(w http.ResponseWriter, service, action, result string) {
	w.Header().Set("Content-Type", "text/xml")
	res := ""
	if result != "" {
		res = fmt.Sprintf("\n  <%sResult>%s</%sResult>", action, result, action)
	}
	fmt.Fprintf(w, `<%sResponse xmlns="%s">%s
  <ResponseMetadata>
    <RequestId>%s</RequestId>
  </ResponseMetadata>
</%sResponse>`, action, ns(service), res, requestID(), action)
}

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	params, _ := url.ParseQuery(r.URL.RawQuery)
	if r.Method == http.MethodPost {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			writeErr(w, http.StatusBadRequest, "iam", "InvalidParameterValue", "Content-Type must be application/x-www-form-urlencoded")
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeErr(w, http.StatusBadRequest, "iam", "MalformedQueryString", "the form body does not parse")
			return
		}
		for k, v := range form {
			params[k] = v
		}
	} else if r.Method != http.MethodGet {
		writeErr(w, http.StatusMethodNotAllowed, "iam", "InvalidAction", "only GET and POST are supported")
		return
	}
	action := params.Get("Action")
	service := "iam"
	if stsActions[action] {
		service = "sts"
	}
	auth, serr := Verify(r, body, e.lookup, e.Now(), 15*time.Minute)
	if serr != nil {
		writeErr(w, http.StatusForbidden, service, serr.Code, serr.Message)
		return
	}
	if auth.Service != service {
		writeErr(w, http.StatusForbidden, service, "SignatureDoesNotMatch", "Credential should be scoped to correct service: '"+service+"'. ")
		return
	}
	wantVersion := map[string]string{"sts": "2011-06-15", "iam": "2010-05-08"}[service]
	if params.Get("Version") != wantVersion {
		writeErr(w, http.StatusBadRequest, service, "InvalidParameterValue", "Version must be "+wantVersion)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	caller := e.keys[auth.AccessKeyID]
	caller.lastUsed, caller.lastService = e.Now().UTC(), service
	principal := e.users[caller.user]
	e.calls = append(e.calls, Call{Action: action, Principal: caller.user, Params: params})
	if service == "iam" {
		iamAction := "iam:" + action
		if principal == nil || !principal.admin {
			writeErr(w, http.StatusForbidden, service, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/%s is not authorized to perform: %s on resource: user %s",
				Account, caller.user, iamAction, params.Get("UserName")))
			return
		}
		if principal.quarantined && (action == "UpdateAccessKey" || action == "DeleteAccessKey" || action == "CreateAccessKey") {
			writeErr(w, http.StatusForbidden, service, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/%s is not authorized to perform: %s on resource: user %s with an explicit deny in an identity-based policy: %s",
				Account, caller.user, iamAction, params.Get("UserName"), QuarantinePolicy))
			return
		}
	}
	switch action {
	case "GetCallerIdentity":
		writeOK(w, service, action, fmt.Sprintf("\n    <Arn>arn:aws:iam::%s:user/%s</Arn>\n    <UserId>%s</UserId>\n    <Account>%s</Account>\n  ",
			Account, esc(caller.user), principal.id, Account))
	case "GetAccessKeyLastUsed":
		k := e.keys[params.Get("AccessKeyId")]
		if k == nil || k.deleted {
			writeErr(w, http.StatusNotFound, service, "NoSuchEntity", "The Access Key with id "+params.Get("AccessKeyId")+" cannot be found.")
			return
		}
		used := "\n      <ServiceName>N/A</ServiceName>\n      <Region>N/A</Region>"
		if !k.lastUsed.IsZero() {
			used = fmt.Sprintf("\n      <LastUsedDate>%s</LastUsedDate>\n      <ServiceName>%s</ServiceName>\n      <Region>us-east-1</Region>", k.lastUsed.Format(time.RFC3339), k.lastService)
		}
		writeOK(w, service, action, fmt.Sprintf("\n    <UserName>%s</UserName>\n    <AccessKeyLastUsed>%s\n    </AccessKeyLastUsed>\n  ", esc(k.user), used))
	case "ListAccessKeys":
		name := params.Get("UserName")
		if name == "" {
			name = caller.user
		}
		if e.users[name] == nil {
			writeErr(w, http.StatusNotFound, service, "NoSuchEntity", "The user with name "+name+" cannot be found.")
			return
		}
		var members []string
		for _, k := range e.userKeys(name) {
			members = append(members, fmt.Sprintf("\n      <member>\n        <UserName>%s</UserName>\n        <AccessKeyId>%s</AccessKeyId>\n        <Status>%s</Status>\n        <CreateDate>%s</CreateDate>\n      </member>",
				esc(k.user), k.id, k.status, k.created.Format(time.RFC3339)))
		}
		writeOK(w, service, action, fmt.Sprintf("\n    <AccessKeyMetadata>%s\n    </AccessKeyMetadata>\n    <IsTruncated>false</IsTruncated>\n  ", strings.Join(members, "")))
	case "UpdateAccessKey", "DeleteAccessKey":
		k := e.keys[params.Get("AccessKeyId")]
		name := params.Get("UserName")
		if name == "" {
			name = caller.user
		}
		if k == nil || k.deleted || k.user != name {
			writeErr(w, http.StatusNotFound, service, "NoSuchEntity", "The Access Key with id "+params.Get("AccessKeyId")+" cannot be found.")
			return
		}
		if action == "DeleteAccessKey" {
			k.deleted = true
		} else {
			s := params.Get("Status")
			if s != "Active" && s != "Inactive" {
				writeErr(w, http.StatusBadRequest, service, "ValidationError", "1 validation error detected: Value at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]")
				return
			}
			k.status = s
		}
		writeOK(w, service, action, "")
	case "CreateAccessKey":
		name := params.Get("UserName")
		if name == "" {
			name = caller.user
		}
		if e.users[name] == nil {
			writeErr(w, http.StatusNotFound, service, "NoSuchEntity", "The user with name "+name+" cannot be found.")
			return
		}
		if len(e.userKeys(name)) >= 2 {
			writeErr(w, http.StatusConflict, service, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
			return
		}
		id, sk := NewKeyPair()
		k := &accessKey{id: id, secret: sk, user: name, status: "Active", created: e.Now().UTC()}
		e.keys[id] = k
		writeOK(w, service, action, fmt.Sprintf("\n    <AccessKey>\n      <UserName>%s</UserName>\n      <AccessKeyId>%s</AccessKeyId>\n      <Status>Active</Status>\n      <SecretAccessKey>%s</SecretAccessKey>\n      <CreateDate>%s</CreateDate>\n    </AccessKey>\n  ",
			esc(name), id, sk, k.created.Format(time.RFC3339)))
	default:
		writeErr(w, http.StatusBadRequest, service, "InvalidAction", "The action "+action+" is not valid for this web service.")
	}
}

// userKeys lists a user's undeleted keys by creation. Callers hold e.mu.
func (e *Emulator) userKeys(name string) []*accessKey {
	var out []*accessKey
	for _, k := range e.keys {
		if k.user == name && !k.deleted {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].created.Before(out[j].created) || out[i].created.Equal(out[j].created) && out[i].id < out[j].id
	})
	return out
}

func (e *Emulator) lookup(id string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keys[id]
	if k == nil || k.deleted || k.status != "Active" {
		return "", false
	}
	return k.secret, true
}
