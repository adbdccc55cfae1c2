// Package aws is Firebreak's AWS IAM provider, built on the AWS SDK for Go v2
// (service/sts and service/iam) so that signing (SigV4), the Query protocol
// and its XML error documents are the SDK's, not Firebreak's.
//
// A leaked AWS secret access key is exposed with its access key id: the
// Credential's Secret is the secret access key and KeyID the access key id
// (AKIA…). Operations (IAM API reference, https://docs.aws.amazon.com/IAM/latest/APIReference/):
//
//   - Verify: sts:GetCallerIdentity signed with the leaked pair itself; it
//     needs no permission, so success means the pair works. 403
//     InvalidClientTokenId (unknown or inactive key) and
//     SignatureDoesNotMatch (the leaked secret is not the key's) mean not live.
//   - Owner: iam:GetAccessKeyLastUsed(AccessKeyId) → the IAM user name (and
//     where and when the key was last used).
//   - Revoke: iam:UpdateAccessKey Status=Inactive (after ListAccessKeys shows
//     the key's status), then iam:DeleteAccessKey when the playbook asks
//     (with: {delete: true}). A key IAM no longer has (NoSuchEntity) or one
//     already inactive (when not deleting) is already revoked.
//   - Create: iam:CreateAccessKey for the same user, respecting IAM's limit
//     of two access keys per user (a deactivated leaked key is deleted to make
//     room; an active second key is never touched).
//
// Firebreak acts as its own principal: AWS attaches the managed policy
// AWSCompromisedKeyQuarantineV2 to a user whose key it finds exposed, and
// that policy denies iam:UpdateAccessKey, DeleteAccessKey and CreateAccessKey
// to the user — so the leaked key cannot be used to deactivate itself. The
// principal (an access key of a role or user allowed
// iam:GetAccessKeyLastUsed, ListAccessKeys, UpdateAccessKey, DeleteAccessKey
// and CreateAccessKey) is configured; without it Revoke escalates.
//
// The SDK's own retries are off (aws.NopRetryer): the responder's step runner
// owns retries, and every failure is returned classified: 429, 5xx, and the
// throttling codes (Throttling, ThrottlingException, RequestLimitExceeded)
// are retryable with the answer's Retry-After; other 4xx are permanent.
package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name is the provider name.
const Name = "aws"

// Secret types (GitHub secret scanning's slugs).
const (
	TypeSecretKey   = "aws_secret_access_key"
	TypeAccessKeyID = "aws_access_key_id"
)

// ConsoleURL is where a person deactivates access keys.
const ConsoleURL = "https://console.aws.amazon.com/iam/home#/users"

// Config configures a Client.
type Config struct {
	// Endpoint, when set, is the base URL of both STS and IAM (an
	// emulator, or a VPC endpoint); empty means AWS's own endpoints.
	Endpoint string
	// Region signs STS requests (IAM is global and signs for us-east-1);
	// "us-east-1" when empty.
	Region string
	// AccessKeyID, SecretAccessKey and SessionToken resolve Firebreak's own
	// principal at each call. Without them Revoke escalates and Owner and
	// Create fail.
	AccessKeyID     secret.Source
	SecretAccessKey secret.Source
	SessionToken    secret.Source
	HTTPClient      *http.Client
}

// Client implements providers.Provider, OwnerLookup and Creator.
type Client struct {
	cfg Config
}

var (
	_ providers.Provider    = (*Client)(nil)
	_ providers.OwnerLookup = (*Client)(nil)
	_ providers.Creator     = (*Client)(nil)
)

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	return &Client{cfg: cfg}
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "AWS IAM", SecretTypes: []string{TypeSecretKey, TypeAccessKeyID},
		Verify: true, Revoke: true, Rotate: true, Owner: true, ConsoleURL: ConsoleURL,
		RevokeRequires: "an IAM principal of Firebreak's own",
		DocsURL:        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccessKey.html"}
}

func (c *Client) awsConfig(creds aws.CredentialsProvider) aws.Config {
	cfg := aws.Config{
		Region:      c.cfg.Region,
		Credentials: creds,
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	if c.cfg.HTTPClient != nil {
		cfg.HTTPClient = c.cfg.HTTPClient
	}
	return cfg
}

func (c *Client) stsClient(creds aws.CredentialsProvider) *sts.Client {
	return sts.NewFromConfig(c.awsConfig(creds), func(o *sts.Options) {
		if c.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.Endpoint)
		}
	})
}

func (c *Client) iamClient() *iam.Client {
	cfg := c.awsConfig(aws.CredentialsProviderFunc(c.principal))
	cfg.Region = "us-east-1"
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		if c.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.Endpoint)
		}
	})
}

func (c *Client) hasPrincipal() bool { return c.cfg.AccessKeyID != nil && c.cfg.SecretAccessKey != nil }

// principal resolves Firebreak's own credentials.
func (c *Client) principal(ctx context.Context) (aws.Credentials, error) {
	id, err := c.cfg.AccessKeyID.Secret(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("resolve the AWS access key id: %w", err)
	}
	sk, err := c.cfg.SecretAccessKey.Secret(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("resolve the AWS secret access key: %w", err)
	}
	out := aws.Credentials{AccessKeyID: strings.TrimSpace(id.Reveal()), SecretAccessKey: strings.TrimSpace(sk.Reveal()), Source: "firebreak"}
	if c.cfg.SessionToken != nil {
		if tok, err := c.cfg.SessionToken.Secret(ctx); err == nil {
			out.SessionToken = strings.TrimSpace(tok.Reveal())
		}
	}
	return out, nil
}

// classify turns an SDK error into a *providers.Error. The SDK's errors never
// carry a secret key; the access key id is not secret.
func classify(ctx context.Context, op providers.Op, err error) *providers.Error {
	e := &providers.Error{Provider: Name, Op: op, Class: providers.Permanent}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		e.Status = re.Response.StatusCode
		e.Class = providers.ClassifyStatus(e.Status)
		e.RetryAfter = providers.ParseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Message = ae.ErrorCode() + ": " + ae.ErrorMessage()
		switch ae.ErrorCode() {
		case "Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable", "ServiceFailure", "InternalFailure":
			e.Class = providers.Retryable
		}
		return e
	}
	if e.Status == 0 {
		// No answer: a network failure or the context ending.
		e.Class = providers.Retryable
		if ctx.Err() != nil {
			e.Err = ctx.Err()
		} else {
			e.Err = errors.New("no answer from AWS")
		}
		return e
	}
	e.Err = err
	return e
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func keyID(cred providers.Credential) string {
	if cred.KeyID != "" {
		return cred.KeyID
	}
	if s := cred.Secret.Reveal(); len(s) == 20 && (strings.HasPrefix(s, "AKIA") || strings.HasPrefix(s, "ASIA")) {
		return s // only the access key id leaked
	}
	return ""
}

// Verify implements providers.Provider.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	if cred.Secret.IsZero() {
		return providers.VerifyResult{}, &providers.Error{Provider: Name, Op: providers.OpVerify, Class: providers.Permanent, Message: "no key to verify"}
	}
	id := keyID(cred)
	if id == "" {
		// A secret key seen without its access key id cannot be signed
		// with; assume the worst, as for any credential that cannot be checked.
		return providers.VerifyResult{Live: true, Detail: "the secret access key leaked without its access key id and cannot be checked; assumed live",
			Facts: map[string]string{"verified": "false"}}, nil
	}
	if id == cred.Secret.Reveal() {
		return providers.VerifyResult{Live: true, Detail: "only the access key id leaked; it cannot be checked without its secret; assumed live",
			Facts: map[string]string{"verified": "false", "access_key_id": id}}, nil
	}
	creds := credentials.NewStaticCredentialsProvider(id, cred.Secret.Reveal(), "")
	out, err := c.stsClient(creds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		switch errorCode(err) {
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken":
			return providers.VerifyResult{Detail: "AWS refuses the key pair (" + errorCode(err) + ")",
				Facts: map[string]string{"access_key_id": id}}, nil
		}
		return providers.VerifyResult{}, classify(ctx, providers.OpVerify, err)
	}
	arn := aws.ToString(out.Arn)
	facts := map[string]string{"arn": arn, "account": aws.ToString(out.Account), "user_id": aws.ToString(out.UserId), "access_key_id": id}
	if i := strings.Index(arn, ":user/"); i >= 0 {
		facts["user_name"] = arn[i+len(":user/"):]
	}
	return providers.VerifyResult{Live: true, Detail: "the key pair authenticated as " + arn, Facts: facts}, nil
}

func (c *Client) noPrincipal(op providers.Op) *providers.Error {
	return &providers.Error{Provider: Name, Op: op, Class: providers.Permanent,
		Message: "no AWS principal is configured for Firebreak (providers.aws.access_key_id / secret_access_key)"}
}

// userOf returns the IAM user that owns an access key ("" when IAM no
// longer has the key).
func (c *Client) userOf(ctx context.Context, op providers.Op, cl *iam.Client, id string) (*iam.GetAccessKeyLastUsedOutput, error) {
	out, err := cl.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
	if err != nil {
		if errorCode(err) == "NoSuchEntity" {
			return nil, nil
		}
		return nil, classify(ctx, op, err)
	}
	return out, nil
}

// Owner implements providers.OwnerLookup.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	if !c.hasPrincipal() {
		return providers.Owner{}, c.noPrincipal(providers.OpOwner)
	}
	id := keyID(cred)
	out, err := c.userOf(ctx, providers.OpOwner, c.iamClient(), id)
	if err != nil {
		return providers.Owner{}, err
	}
	if out == nil || aws.ToString(out.UserName) == "" {
		return providers.Owner{}, &providers.Error{Provider: Name, Op: providers.OpOwner, Class: providers.Permanent, Message: "IAM no longer has access key " + id}
	}
	o := providers.Owner{User: aws.ToString(out.UserName), Facts: map[string]string{"access_key_id": id}}
	if lu := out.AccessKeyLastUsed; lu != nil {
		o.Facts["last_used_service"] = aws.ToString(lu.ServiceName)
		o.Facts["last_used_region"] = aws.ToString(lu.Region)
		if lu.LastUsedDate != nil {
			o.Facts["last_used"] = lu.LastUsedDate.UTC().Format(time.RFC3339)
		}
	}
	return o, nil
}

// Revoke implements providers.Provider: deactivate, don't delete.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	return c.RevokeWith(ctx, cred, nil)
}

// RevokeWith implements providers.OptionRevoker: opts["delete"] true also
// deletes the key after deactivating it.
func (c *Client) RevokeWith(ctx context.Context, cred providers.Credential, opts map[string]any) (providers.RevokeResult, error) {
	id := keyID(cred)
	if id == "" {
		// IAM cannot look a key up by its secret: a person must find it.
		return providers.Escalation(c.Spec(), "", "the secret access key leaked without its access key id, and IAM cannot find a key by its secret: "+
			"find the access key (by where the secret is used, or CloudTrail), make it Inactive and delete it"), nil
	}
	if !c.hasPrincipal() {
		return providers.Escalation(c.Spec(), id, "Firebreak has no AWS principal configured: in IAM → Users, find access key "+id+", make it Inactive, then delete it"), nil
	}
	del, _ := opts["delete"].(bool)
	cl := c.iamClient()
	lu, err := c.userOf(ctx, providers.OpRevoke, cl, id)
	if err != nil {
		return providers.RevokeResult{}, err
	}
	if lu == nil {
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: id, Detail: "IAM no longer has access key " + id + ": it was deleted"}, nil
	}
	userName := aws.ToString(lu.UserName)
	facts := map[string]string{"user_name": userName}
	keys, err := cl.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(userName)})
	if err != nil {
		return providers.RevokeResult{}, classify(ctx, providers.OpRevoke, err)
	}
	var status iamtypes.StatusType
	for _, k := range keys.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) == id {
			status = k.Status
		}
	}
	switch {
	case status == "":
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: id, Facts: facts, Detail: "user " + userName + " no longer has access key " + id}, nil
	case status == iamtypes.StatusTypeInactive && !del:
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: id, Facts: facts, Detail: "access key " + id + " is already Inactive"}, nil
	}
	action := "deactivated"
	if status == iamtypes.StatusTypeActive {
		if _, err := cl.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(id), UserName: aws.String(userName),
			Status: iamtypes.StatusTypeInactive}); err != nil {
			if errorCode(err) == "NoSuchEntity" {
				return providers.RevokeResult{AlreadyRevoked: true, KeyID: id, Facts: facts, Detail: "the key was deleted meanwhile"}, nil
			}
			return providers.RevokeResult{}, classify(ctx, providers.OpRevoke, err)
		}
	}
	detail := "access key " + id + " of user " + userName + " set Inactive"
	if del {
		if _, err := cl.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(id), UserName: aws.String(userName)}); err != nil && errorCode(err) != "NoSuchEntity" {
			// Deactivated but not deleted: the key is harmless now; the
			// delete is retried with the step.
			return providers.RevokeResult{}, classify(ctx, providers.OpRevoke, err)
		}
		action, detail = "deleted", "access key "+id+" of user "+userName+" deactivated and deleted"
	}
	return providers.RevokeResult{Action: action, KeyID: id, Detail: detail, Facts: facts}, nil
}

// Create implements providers.Creator: a new access key for the leaked key's
// user (or With["user_name"]).
func (c *Client) Create(ctx context.Context, r providers.CreateRequest) (providers.Created, error) {
	if !c.hasPrincipal() {
		return providers.Created{}, c.noPrincipal(providers.OpCreate)
	}
	cl := c.iamClient()
	userName := r.With["user_name"]
	oldID := keyID(r.Old)
	if userName == "" {
		if oldID == "" {
			return providers.Created{}, &providers.Error{Provider: Name, Op: providers.OpCreate, Class: providers.Permanent, Message: "no user name and no old access key id to find it"}
		}
		lu, err := c.userOf(ctx, providers.OpCreate, cl, oldID)
		if err != nil {
			return providers.Created{}, err
		}
		if lu == nil {
			return providers.Created{}, &providers.Error{Provider: Name, Op: providers.OpCreate, Class: providers.Permanent,
				Message: "IAM no longer has access key " + oldID + "; name the user (with: user_name)"}
		}
		userName = aws.ToString(lu.UserName)
	}
	keys, err := cl.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(userName)})
	if err != nil {
		return providers.Created{}, classify(ctx, providers.OpCreate, err)
	}
	if len(keys.AccessKeyMetadata) >= 2 {
		// Make room only by deleting the leaked key, and only once it is
		// inactive: an active key may be the one production runs on.
		var room bool
		for _, k := range keys.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == oldID && k.Status == iamtypes.StatusTypeInactive {
				if _, err := cl.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: k.AccessKeyId, UserName: aws.String(userName)}); err != nil && errorCode(err) != "NoSuchEntity" {
					return providers.Created{}, classify(ctx, providers.OpCreate, err)
				}
				room = true
			}
		}
		if !room {
			return providers.Created{}, &providers.Error{Provider: Name, Op: providers.OpCreate, Class: providers.Permanent,
				Message: fmt.Sprintf("user %s already has 2 access keys (IAM's limit) and the leaked key %s is not an inactive one of them; revoke it first or delete a key by hand", userName, oldID)}
		}
	}
	out, err := cl.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(userName)})
	if err != nil {
		return providers.Created{}, classify(ctx, providers.OpCreate, err)
	}
	k := out.AccessKey
	v := secret.New(aws.ToString(k.SecretAccessKey))
	return providers.Created{
		Credential: providers.Credential{Provider: Name, Type: TypeSecretKey, Secret: v, KeyID: aws.ToString(k.AccessKeyId), Hint: secret.Hint(v)},
		Facts:      map[string]string{"user_name": userName, "access_key_id": aws.ToString(k.AccessKeyId)},
	}, nil
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	base := c.cfg.Endpoint
	if base == "" {
		base = "https://iam.amazonaws.com"
	}
	stsBase := c.cfg.Endpoint
	if stsBase == "" {
		stsBase = "https://sts." + c.cfg.Region + ".amazonaws.com"
	}
	id := keyID(cred)
	switch op {
	case providers.OpVerify:
		return []providers.Call{{Method: http.MethodPost, URL: stsBase + "/", Body: "Action=GetCallerIdentity&Version=2011-06-15",
			Note: "SigV4-signed with the leaked key pair " + id + "; InvalidClientTokenId means not live"}}
	case providers.OpRevoke:
		if !c.hasPrincipal() {
			return []providers.Call{{Note: "escalate: no AWS principal configured; deactivate " + id + " by hand at " + ConsoleURL}}
		}
		return []providers.Call{
			{Method: http.MethodPost, URL: base + "/", Body: "Action=GetAccessKeyLastUsed&AccessKeyId=" + id + "&Version=2010-05-08", Note: "as Firebreak's principal: find the user"},
			{Method: http.MethodPost, URL: base + "/", Body: "Action=ListAccessKeys&UserName={user}&Version=2010-05-08", Note: "the key's current status"},
			{Method: http.MethodPost, URL: base + "/", Body: "Action=UpdateAccessKey&AccessKeyId=" + id + "&Status=Inactive&UserName={user}&Version=2010-05-08"},
			{Method: http.MethodPost, URL: base + "/", Body: "Action=DeleteAccessKey&AccessKeyId=" + id + "&UserName={user}&Version=2010-05-08", Note: "only with delete: true"},
		}
	}
	return nil
}
