package aws_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/aws"
	"github.com/firebreak-sec/firebreak/providers/aws/awsemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func cred(id, sk string) providers.Credential {
	v := secret.New(sk)
	return providers.Credential{Provider: aws.Name, Type: aws.TypeSecretKey, Secret: v, KeyID: id, Hint: secret.Hint(v)}
}

type account struct {
	emu    *awsemu.Emulator
	client *aws.Client
}

func newAccount(t *testing.T) *account {
	t.Helper()
	emu := awsemu.New()
	base := emu.Start()
	t.Cleanup(emu.Close)
	emu.AddUser("firebreak-responder", true)
	emu.AddUser("app", true) // the leaked user may even be an admin: the quarantine policy still denies it
	pid, psk := emu.AddKey("firebreak-responder")
	c := aws.New(aws.Config{Endpoint: base, AccessKeyID: secret.Static(secret.New(pid)), SecretAccessKey: secret.Static(secret.New(psk))})
	return &account{emu: emu, client: c}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			a := newAccount(t)
			return providertest.Fixture{
				Provider: a.client,
				Server:   a.emu.Server,
				Live: func(t *testing.T) providers.Credential {
					id, sk := a.emu.AddKey("app")
					return cred(id, sk)
				},
				Unknown: func(t *testing.T) providers.Credential { return cred(awsemu.NewKeyPair()) },
				IsLive:  a.emu.LiveSecret,
			}
		},
		VerifyMatch: "POST /", RevokeMatch: "POST /", NotFoundMatch: "POST /", UnknownNotLive: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			c := fx.Live(t)
			form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			bearer := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"Bearer " + c.Secret.Reveal()}}
			forged := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Amz-Date": {"20240101T000000Z"},
				"Authorization": {"AWS4-HMAC-SHA256 Credential=" + c.KeyID + "/20240101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64)}}
			return []providertest.Probe{
				{Method: http.MethodPost, Path: "/", Header: form, Body: "Action=GetCallerIdentity&Version=2011-06-15", WantStatus: 403, WantBody: "MissingAuthenticationToken"},
				{Method: http.MethodPost, Path: "/", Header: bearer, Body: "Action=GetCallerIdentity&Version=2011-06-15", WantStatus: 403, WantBody: "IncompleteSignature"},
				{Method: http.MethodPost, Path: "/", Header: forged, Body: "Action=GetCallerIdentity&Version=2011-06-15", WantStatus: 403, WantBody: "SignatureDoesNotMatch"},
				{Method: http.MethodPost, Path: "/", Header: form, Body: "Action=UpdateAccessKey&AccessKeyId=" + c.KeyID + "&Status=Inactive&Version=2010-05-08", WantStatus: 403},
			}
		},
	})
}

func TestVerifyOwnerRevokeDelete(t *testing.T) {
	a := newAccount(t)
	ctx := context.Background()
	id, sk := a.emu.AddKey("app")
	v, err := a.client.Verify(ctx, cred(id, sk))
	if err != nil || !v.Live || v.Facts["user_name"] != "app" || v.Facts["account"] != awsemu.Account {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// A wrong secret for a real key id is not a working credential.
	_, wrong := awsemu.NewKeyPair()
	if v, err := a.client.Verify(ctx, cred(id, wrong)); err != nil || v.Live {
		t.Fatalf("Verify(wrong secret) = %+v, %v", v, err)
	}
	o, err := a.client.Owner(ctx, cred(id, sk))
	if err != nil || o.User != "app" || o.Facts["last_used_service"] != "sts" {
		t.Fatalf("Owner = %+v, %v", o, err)
	}
	r, err := a.client.RevokeWith(ctx, cred(id, sk), map[string]any{"delete": true})
	if err != nil || r.Action != "deleted" || a.emu.KeyStatus(id) != "" {
		t.Fatalf("RevokeWith(delete) = %+v, %v; status %q", r, err, a.emu.KeyStatus(id))
	}
	// Every IAM call was made as Firebreak's principal, never as the leaked key.
	var actions []string
	for _, c := range a.emu.Calls() {
		if c.Action != "GetCallerIdentity" && c.Principal != "firebreak-responder" {
			t.Fatalf("%s was signed by %s", c.Action, c.Principal)
		}
		actions = append(actions, c.Action)
	}
	if got := strings.Join(actions, ","); !strings.HasSuffix(got, "GetAccessKeyLastUsed,ListAccessKeys,UpdateAccessKey,DeleteAccessKey") {
		t.Fatalf("actions %s", got)
	}
	r, err = a.client.RevokeWith(ctx, cred(id, sk), map[string]any{"delete": true})
	if err != nil || !r.AlreadyRevoked {
		t.Fatalf("second RevokeWith = %+v, %v", r, err)
	}
}

// TestQuarantinedUserCannotRevokeItself shows why Firebreak acts as its own
// principal: the leaked user, quarantined by AWS, is denied UpdateAccessKey.
func TestQuarantinedUserCannotRevokeItself(t *testing.T) {
	a := newAccount(t)
	id, sk := a.emu.AddKey("app")
	a.emu.Quarantine("app")
	self := aws.New(aws.Config{Endpoint: a.emu.URL(), AccessKeyID: secret.Static(secret.New(id)), SecretAccessKey: secret.Static(secret.New(sk))})
	_, err := self.Revoke(context.Background(), cred(id, sk))
	if class, _ := providers.Classify(err); err == nil || class != providers.Permanent || !strings.Contains(err.Error(), "explicit deny") {
		t.Fatalf("self-revocation of a quarantined key = %v", err)
	}
	providertest.AssertNoSecret(t, sk, err.Error())
	if r, err := a.client.Revoke(context.Background(), cred(id, sk)); err != nil || r.Action != "deactivated" {
		t.Fatalf("Revoke as Firebreak's principal = %+v, %v", r, err)
	}
}

func TestCreateRespectsTwoKeyLimit(t *testing.T) {
	a := newAccount(t)
	ctx := context.Background()
	leakedID, leakedSK := a.emu.AddKey("app")
	otherID, _ := a.emu.AddKey("app")
	// Two active keys: no room, and neither is touched.
	_, err := a.client.Create(ctx, providers.CreateRequest{Old: cred(leakedID, leakedSK)})
	if class, _ := providers.Classify(err); err == nil || class != providers.Permanent || !strings.Contains(err.Error(), "2 access keys") {
		t.Fatalf("Create with two active keys = %v", err)
	}
	if a.emu.KeyStatus(leakedID) != "Active" || a.emu.KeyStatus(otherID) != "Active" {
		t.Fatal("a key was changed")
	}
	// Once the leaked key is inactive, it makes room.
	if _, err := a.client.Revoke(ctx, cred(leakedID, leakedSK)); err != nil {
		t.Fatal(err)
	}
	got, err := a.client.Create(ctx, providers.CreateRequest{Old: cred(leakedID, leakedSK)})
	if err != nil || got.Credential.KeyID == "" || got.Facts["user_name"] != "app" {
		t.Fatalf("Create = %+v, %v", got, err)
	}
	if a.emu.KeyStatus(leakedID) != "" || a.emu.KeyStatus(otherID) != "Active" || a.emu.KeyStatus(got.Credential.KeyID) != "Active" {
		t.Fatal("wrong key state after Create")
	}
	if v, err := a.client.Verify(ctx, got.Credential); err != nil || !v.Live {
		t.Fatalf("new key Verify = %+v, %v", v, err)
	}
}

func TestNoPrincipalEscalates(t *testing.T) {
	emu := awsemu.New()
	base := emu.Start()
	defer emu.Close()
	emu.AddUser("app", false)
	id, sk := emu.AddKey("app")
	c := aws.New(aws.Config{Endpoint: base})
	r, err := c.Revoke(context.Background(), cred(id, sk))
	if err != nil || r.Action != providers.ActionEscalated || !strings.Contains(r.Detail, id) {
		t.Fatalf("Revoke without principal = %+v, %v", r, err)
	}
}

func TestSecretWithoutKeyIDEscalates(t *testing.T) {
	a := newAccount(t)
	_, sk := a.emu.AddKey("app")
	c := cred("", sk)
	v, err := a.client.Verify(context.Background(), c)
	if err != nil || !v.Live || v.Facts["verified"] != "false" {
		t.Fatalf("Verify without key id = %+v, %v", v, err)
	}
	r, err := a.client.Revoke(context.Background(), c)
	if err != nil || r.Action != providers.ActionEscalated || !a.emu.LiveSecret(sk) {
		t.Fatalf("Revoke without key id = %+v, %v", r, err)
	}
	providertest.AssertNoSecret(t, sk, r.Detail, v.Detail)
}
