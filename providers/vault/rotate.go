package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// OpRotate names rotation in classified errors.
const OpRotate providers.Op = "rotate"

// Phase names the points between the steps of a rotation. Hooks run at each;
// a test that stops the rotation there and runs it again checks that every
// interruption rolls forward (or back) to a clean end.
type Phase string

// Phases, in order.
const (
	PhaseIntent   Phase = "intent_written"   // the intent record exists; no key created yet
	PhaseCreated  Phase = "key_created"      // the provider created the new key; not yet recorded anywhere
	PhaseRecorded Phase = "key_recorded"     // the new key is recorded in the intent
	PhaseWritten  Phase = "kv_written"       // the new key is a new KV version (check-and-set)
	PhaseMetadata Phase = "metadata_written" // custom metadata set
	PhaseVerified Phase = "new_key_verified" // the provider says the new key is live
	PhaseRevoked  Phase = "old_key_revoked"  // the old key is revoked
	PhaseCleared  Phase = "intent_cleared"   // the intent is gone: the rotation is complete
)

// Phases lists every phase in order.
var Phases = []Phase{PhaseIntent, PhaseCreated, PhaseRecorded, PhaseWritten, PhaseMetadata, PhaseVerified, PhaseRevoked, PhaseCleared}

// Rotator rotates leaked keys into KV v2, crash-safely. Before it creates
// anything it writes an intent record (a KV v2 secret under IntentMount/
// IntentPrefix, one per target path, created with check-and-set 0 so two
// rotations of one secret exclude each other); the intent names the rotation's
// unique key name and, once created, holds the new key (Vault is where it is
// going anyway). A rotation that stops anywhere and runs again (the
// responder's redelivery) reads the intent and rolls forward to exactly one new
// key and one revocation, or — when forward is impossible (the secret changed
// concurrently, the policy forbids the write, the new key never goes live) —
// rolls back: the new key is deleted at the provider, the secret is left as it
// was (or restored), the intent is cleared, and the error says "rolled back".
type Rotator struct {
	Client       *Client
	IntentMount  string // KV v2 mount of intent records; "secret" when empty
	IntentPrefix string // folder of intent records; "firebreak/rotations" when empty
	// Instance names the responder in custom metadata (rotated_by).
	Instance string
	// VerifyAttempts is how many times a written new key may be found not
	// live before the rotation rolls back; 5 when zero.
	VerifyAttempts int
	// Hook, when set, runs at each phase; an error stops the rotation there,
	// as a crash would (no clean-up runs). For tests.
	Hook func(ctx context.Context, p Phase) error
	Now  func() time.Time
}

// Rotation is one rotation request.
type Rotation struct {
	Incident string // incident id (owner of the intent, custom metadata)
	Step     string // playbook/step key (owner of the intent)
	Mount    string // KV v2 mount of the secret, e.g. "secret"
	Path     string // the secret's path in the mount, e.g. "apps/billing/openai"
	Field    string // the field that holds the key, e.g. "api_key"
	// Old is the leaked key being replaced (Secret and Fingerprint set).
	Old providers.Credential
	// Provider verifies the new key and revokes the old one.
	Provider providers.Provider
	// Creator makes the new key; a CreatedKeys lets the rotation find and
	// delete a key an interrupted attempt created.
	Creator providers.Creator
	// With are provider parameters for Create (e.g. project_id).
	With map[string]string
	// RevokeOld revokes the old key once the new one is live.
	RevokeOld bool
}

// Outcome is what a finished rotation did.
type Outcome struct {
	// Action is "rotated" (this incident rotated the key, now or in an
	// interrupted earlier attempt) or "already_rotated" (someone else did).
	Action         string
	Version        int    // the KV version holding the new key
	NewKeyID       string // the provider's id of the new key
	NewHint        string // redacted hint of the new key
	Revoked        bool   // the old key is revoked (now or before)
	AlreadyRevoked bool
	Resumed        bool     // an interrupted attempt was rolled forward
	Notes          []string // what recovery did
	Facts          map[string]string
}

// Detail is a one-line human summary.
func (o Outcome) Detail(r Rotation) string {
	var b strings.Builder
	switch o.Action {
	case "already_rotated":
		fmt.Fprintf(&b, "%s/%s was already rotated: version %d no longer holds the leaked key", r.Mount, r.Path, o.Version)
	default:
		fmt.Fprintf(&b, "rotated %s/%s#%s to a new key %s (version %d)", r.Mount, r.Path, r.Field, o.NewHint, o.Version)
	}
	if o.Revoked {
		if o.AlreadyRevoked {
			b.WriteString("; the old key was already revoked")
		} else {
			b.WriteString("; revoked the old key")
		}
	}
	for _, n := range o.Notes {
		b.WriteString("; " + n)
	}
	return b.String()
}

// intent is the intent record, stored as string fields of a KV v2 secret.
type intent struct {
	Incident    string
	Step        string
	Token       string // the unique name of the new key
	Mount, Path string
	Field       string
	Provider    string
	OldFP       string
	BaseVersion int
	Phase       string // "intent" or "recorded"
	NewSecret   secret.Value
	NewKeyID    string
	NewFacts    map[string]string
	VerifyFails int
	CreatedAt   time.Time
	version     int // the intent secret's KV version (for check-and-set)
}

func (in *intent) data() map[string]any {
	facts, _ := json.Marshal(in.NewFacts)
	d := map[string]any{
		"incident": in.Incident, "step": in.Step, "token": in.Token, "mount": in.Mount, "path": in.Path,
		"field": in.Field, "provider": in.Provider, "old_fingerprint": in.OldFP,
		"base_version": strconv.Itoa(in.BaseVersion), "phase": in.Phase, "new_key_id": in.NewKeyID,
		"new_facts": string(facts), "verify_failures": strconv.Itoa(in.VerifyFails),
		"created_at": in.CreatedAt.UTC().Format(time.RFC3339Nano),
	}
	if !in.NewSecret.IsZero() {
		d["new_secret"] = in.NewSecret.Reveal()
	}
	return d
}

func intentFrom(s *KVSecret) *intent {
	str := func(k string) string { v, _ := s.Data[k].(string); return v }
	atoi := func(k string) int { n, _ := strconv.Atoi(str(k)); return n }
	in := &intent{
		Incident: str("incident"), Step: str("step"), Token: str("token"), Mount: str("mount"), Path: str("path"),
		Field: str("field"), Provider: str("provider"), OldFP: str("old_fingerprint"), BaseVersion: atoi("base_version"),
		Phase: str("phase"), NewKeyID: str("new_key_id"), VerifyFails: atoi("verify_failures"), version: s.Version,
	}
	if v := str("new_secret"); v != "" {
		in.NewSecret = secret.New(v)
	}
	_ = json.Unmarshal([]byte(str("new_facts")), &in.NewFacts)
	in.CreatedAt, _ = time.Parse(time.RFC3339Nano, str("created_at"))
	return in
}

func (r *Rotator) intentMount() string {
	if r.IntentMount == "" {
		return "secret"
	}
	return strings.Trim(r.IntentMount, "/")
}

func (r *Rotator) intentPrefix() string {
	if r.IntentPrefix == "" {
		return "firebreak/rotations"
	}
	return strings.Trim(r.IntentPrefix, "/")
}

// IntentPath is where the intent record of a target secret lives (in
// IntentMount): one per target, named by a hash of mount and path.
func (r *Rotator) IntentPath(mount, path string) string {
	h := sha256.Sum256([]byte(strings.Trim(mount, "/") + "/" + strings.Trim(path, "/")))
	return r.intentPrefix() + "/" + hex.EncodeToString(h[:16])
}

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Rotator) hook(ctx context.Context, p Phase) error {
	if r.Hook == nil {
		return nil
	}
	return r.Hook(ctx, p)
}

func fieldIs(s *KVSecret, field string, v secret.Value) bool {
	if s == nil || v.IsZero() {
		return false
	}
	cur, ok := s.Data[field].(string)
	return ok && secret.New(cur).Equal(v)
}

// errHook marks an error from Hook: it passes through untouched, with no
// clean-up, as a crash would.
type errHook struct{ err error }

func (e errHook) Error() string { return e.err.Error() }
func (e errHook) Unwrap() error { return e.err }

// Rotate runs (or resumes) a rotation. Errors are classified
// (*providers.Error): retryable ones leave the rotation resumable; permanent
// ones say whether anything was rolled back.
func (r *Rotator) Rotate(ctx context.Context, rot Rotation) (Outcome, error) {
	out, err := r.rotate(ctx, rot)
	var he errHook
	if errors.As(err, &he) {
		return out, he.err
	}
	return out, err
}

func (r *Rotator) rotate(ctx context.Context, rot Rotation) (Outcome, error) {
	if rot.Old.Secret.IsZero() {
		return Outcome{}, permanent(OpRotate, "no old key in memory to rotate")
	}
	if rot.Mount == "" || rot.Path == "" || rot.Field == "" {
		return Outcome{}, permanent(OpRotate, "mount, path and field are required")
	}
	ipath := r.IntentPath(rot.Mount, rot.Path)
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := r.Client.KVRead(ctx, rot.Mount, rot.Path, 0)
		if errors.Is(err, ErrNotFound) {
			return Outcome{}, permanent(OpRotate, "no secret at %s/%s to rotate (the playbook's mount and path must name the KV v2 secret that holds the key)", rot.Mount, rot.Path)
		}
		if err != nil {
			return Outcome{}, err
		}
		is, err := r.Client.KVRead(ctx, r.intentMount(), ipath, 0)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return Outcome{}, err
		default:
			in := intentFrom(is)
			if in.Incident != rot.Incident || in.Step != rot.Step {
				return Outcome{}, &providers.Error{Provider: Name, Op: OpRotate, Class: providers.Retryable,
					Message: fmt.Sprintf("another rotation of %s/%s is in progress (incident %s, step %s, since %s; intent at %s/%s)",
						rot.Mount, rot.Path, in.Incident, in.Step, in.CreatedAt.Format(time.RFC3339), r.intentMount(), ipath)}
			}
			return r.resume(ctx, rot, in, cur)
		}

		// No rotation in progress: does the secret still hold the leaked key?
		if !fieldIs(cur, rot.Field, rot.Old.Secret) {
			return r.alreadyRotated(ctx, rot, cur)
		}
		if err := r.preflight(ctx, rot, ipath); err != nil {
			return Outcome{}, err
		}
		in := &intent{
			Incident: rot.Incident, Step: rot.Step, Token: newToken(rot.Incident), Mount: rot.Mount, Path: rot.Path,
			Field: rot.Field, Provider: rot.Old.Provider, OldFP: rot.Old.Fingerprint, BaseVersion: cur.Version,
			Phase: "intent", CreatedAt: r.now(),
		}
		v, err := r.Client.KVWrite(ctx, r.intentMount(), ipath, in.data(), 0)
		if errors.Is(err, ErrCASConflict) {
			continue // someone started first: look again
		}
		if err != nil {
			return Outcome{}, err
		}
		in.version = v
		// The secret may have been rotated between our read and our intent
		// (a rotation that finished and cleared its intent meanwhile).
		again, err := r.Client.KVRead(ctx, rot.Mount, rot.Path, 0)
		if err != nil {
			return Outcome{}, err
		}
		if again.Version != cur.Version {
			if err := r.Client.KVDestroy(ctx, r.intentMount(), ipath); err != nil {
				return Outcome{}, err
			}
			continue
		}
		if err := r.hook(ctx, PhaseIntent); err != nil {
			return Outcome{}, errHook{err}
		}
		return r.create(ctx, rot, in, cur, false)
	}
	return Outcome{}, &providers.Error{Provider: Name, Op: OpRotate, Class: providers.Retryable,
		Message: fmt.Sprintf("%s/%s changed repeatedly while starting the rotation", rot.Mount, rot.Path)}
}

func newToken(incident string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	inc := strings.TrimPrefix(incident, "inc_")
	if len(inc) > 12 {
		inc = inc[:12]
	}
	return "firebreak-rot-" + inc + "-" + hex.EncodeToString(b)
}

// preflight asks Vault for the token's capabilities on every path the
// rotation writes, so that a policy that lacks one fails before anything is
// created. A token that may not ask (no default policy) skips it.
func (r *Rotator) preflight(ctx context.Context, rot Rotation, ipath string) error {
	need := map[string][]string{
		kvPath(rot.Mount, "data", rot.Path):        {"read", "update"},
		kvPath(rot.Mount, "metadata", rot.Path):    {"update"},
		kvPath(r.intentMount(), "data", ipath):     {"create", "read", "update"},
		kvPath(r.intentMount(), "metadata", ipath): {"delete"},
	}
	paths := make([]string, 0, len(need))
	for p := range need {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	caps, err := r.Client.Capabilities(ctx, paths...)
	if IsPermission(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var missing []string
	for _, p := range paths {
		have := caps[p]
		if slices.Contains(have, "root") {
			continue
		}
		for _, c := range need[p] {
			if !slices.Contains(have, c) {
				missing = append(missing, fmt.Sprintf("%q on %s", c, p))
			}
		}
	}
	if len(missing) > 0 {
		return &providers.Error{Provider: Name, Op: OpRotate, Class: providers.Permanent, Err: ErrPermission,
			Message: "the Vault policy lacks " + strings.Join(missing, ", ") + " (needed to rotate; nothing was created or changed; see the least-privilege policy in the README)"}
	}
	return nil
}

// alreadyRotated handles a secret that no longer holds the leaked key: if its
// previous version did (or its metadata says it replaced the leaked key), the
// rotation is done — by us in an interrupted attempt, or by someone else —
// and only the old key's revocation is ensured. Otherwise the path does not
// hold the leaked key and rotating it would replace someone else's key.
func (r *Rotator) alreadyRotated(ctx context.Context, rot Rotation, cur *KVSecret) (Outcome, error) {
	rotated := rot.Old.Fingerprint != "" && cur.CustomMetadata["previous_fingerprint"] == rot.Old.Fingerprint
	if !rotated && cur.Version > 1 {
		prev, err := r.Client.KVRead(ctx, rot.Mount, rot.Path, cur.Version-1)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Outcome{}, err
		}
		rotated = fieldIs(prev, rot.Field, rot.Old.Secret)
	}
	if !rotated {
		return Outcome{}, permanent(OpRotate, "%s/%s field %q does not hold the leaked key %s (version %d); not rotating someone else's key",
			rot.Mount, rot.Path, rot.Field, rot.Old.Hint, cur.Version)
	}
	out := Outcome{Action: "already_rotated", Version: cur.Version, Facts: map[string]string{}}
	if cur.CustomMetadata["incident"] == rot.Incident && rot.Incident != "" {
		out.Action, out.Resumed = "rotated", true
		out.Notes = append(out.Notes, "completed by an interrupted earlier attempt")
	}
	if v, ok := cur.Data[rot.Field].(string); ok {
		out.NewHint = secret.Hint(secret.New(v))
	}
	if err := r.revokeOld(ctx, rot, &out); err != nil {
		return out, err
	}
	return out, nil
}

func (r *Rotator) revokeOld(ctx context.Context, rot Rotation, out *Outcome) error {
	if !rot.RevokeOld {
		return nil
	}
	res, err := rot.Provider.Revoke(ctx, rot.Old)
	if err != nil {
		return err
	}
	out.Revoked, out.AlreadyRevoked = true, res.AlreadyRevoked
	if res.KeyID != "" {
		out.Facts["old_key_id"] = res.KeyID
	}
	return nil
}

// resume continues an interrupted rotation of this incident's step.
func (r *Rotator) resume(ctx context.Context, rot Rotation, in *intent, cur *KVSecret) (Outcome, error) {
	if in.Phase == "recorded" && !in.NewSecret.IsZero() {
		// A recorded key that is no longer live was rolled back by an attempt
		// that could not clear the intent (Vault failed): start over.
		v, err := rot.Provider.Verify(ctx, r.newCredential(rot, in))
		if err != nil {
			return Outcome{}, err
		}
		if v.Live || fieldIs(cur, rot.Field, in.NewSecret) {
			out, err := r.forward(ctx, rot, in, cur)
			out.Resumed = true
			return out, err
		}
		in.Phase, in.NewSecret, in.NewKeyID, in.NewFacts = "intent", secret.Value{}, "", nil
	}
	if !fieldIs(cur, rot.Field, rot.Old.Secret) || cur.Version != in.BaseVersion {
		// Nothing of ours was written, and the secret moved on: our intent is
		// moot. Clean up what the interrupted attempt may have created.
		notes, err := r.deleteOrphans(ctx, rot, in)
		if err != nil {
			return Outcome{}, err
		}
		if err := r.Client.KVDestroy(ctx, r.intentMount(), r.IntentPath(rot.Mount, rot.Path)); err != nil {
			return Outcome{}, err
		}
		out, err := r.alreadyRotated(ctx, rot, cur)
		out.Notes = append(notes, out.Notes...)
		return out, err
	}
	out, err := r.create(ctx, rot, in, cur, true)
	out.Resumed = true
	return out, err
}

// deleteOrphans deletes keys created under the intent's name by an attempt
// that died before recording them.
func (r *Rotator) deleteOrphans(ctx context.Context, rot Rotation, in *intent) ([]string, error) {
	ck, ok := rot.Creator.(providers.CreatedKeys)
	if !ok {
		return []string{fmt.Sprintf("an interrupted attempt may have created a key named %s that this provider cannot look up: check for it by hand", in.Token)}, nil
	}
	found, err := ck.FindCreated(ctx, providers.CreateRequest{Old: rot.Old, Name: in.Token, With: rot.With})
	if err != nil {
		return nil, err
	}
	for _, k := range found {
		if err := ck.DeleteCreated(ctx, k); err != nil {
			return nil, err
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	return []string{fmt.Sprintf("deleted %d unrecorded key(s) an interrupted attempt had created", len(found))}, nil
}

func (r *Rotator) newCredential(rot Rotation, in *intent) providers.Credential {
	return providers.Credential{Provider: rot.Old.Provider, Type: rot.Old.Type, Secret: in.NewSecret, KeyID: in.NewKeyID, Hint: secret.Hint(in.NewSecret)}
}

// create makes the new key and records it in the intent.
func (r *Rotator) create(ctx context.Context, rot Rotation, in *intent, cur *KVSecret, resumed bool) (Outcome, error) {
	var notes []string
	if resumed {
		n, err := r.deleteOrphans(ctx, rot, in)
		if err != nil {
			return Outcome{}, err
		}
		notes = n
	}
	ipath := r.IntentPath(rot.Mount, rot.Path)
	created, err := rot.Creator.Create(ctx, providers.CreateRequest{Old: rot.Old, Name: in.Token, With: rot.With})
	if err != nil {
		// Nothing was created. A permanent failure will not change: clear the
		// intent so the secret is free again.
		if class, _ := providers.Classify(err); class == providers.Permanent {
			_ = r.Client.KVDestroy(ctx, r.intentMount(), ipath)
		}
		return Outcome{}, err
	}
	if err := r.hook(ctx, PhaseCreated); err != nil {
		return Outcome{}, errHook{err}
	}
	in.Phase, in.NewSecret, in.NewKeyID, in.NewFacts = "recorded", created.Credential.Secret, created.Credential.KeyID, created.Facts
	v, err := r.Client.KVWrite(ctx, r.intentMount(), ipath, in.data(), in.version)
	if err != nil {
		return Outcome{}, r.rollbackCreated(ctx, rot, in, "could not record the new key in Vault", err)
	}
	in.version = v
	if err := r.hook(ctx, PhaseRecorded); err != nil {
		return Outcome{}, errHook{err}
	}
	out, err := r.forward(ctx, rot, in, cur)
	out.Notes = append(notes, out.Notes...)
	return out, err
}

// rollbackCreated deletes a new key that never reached the secret, clears the
// intent (best effort: when Vault is what failed, the next attempt finds the
// recorded key gone and starts over) and returns cause, classified as it
// was, saying it rolled back.
func (r *Rotator) rollbackCreated(ctx context.Context, rot Rotation, in *intent, why string, cause error) error {
	class, after := providers.Classify(cause)
	if derr := r.deleteNew(ctx, rot, in); derr != nil {
		return &providers.Error{Provider: Name, Op: OpRotate, Class: providers.Retryable,
			Message: fmt.Sprintf("%s (%v), and deleting the new key %s failed too (%v): will retry", why, cause, in.NewKeyID, derr)}
	}
	cleared := r.Client.KVDestroy(ctx, r.intentMount(), r.IntentPath(rot.Mount, rot.Path)) == nil
	msg := fmt.Sprintf("rolled back: %s; deleted the new key %s again, %s/%s is unchanged and the old key was not revoked by this rotation", why, in.NewKeyID, rot.Mount, rot.Path)
	if !cleared {
		msg += " (the intent record stays until Vault answers; the next attempt starts over)"
	}
	return &providers.Error{Provider: Name, Op: OpRotate, Class: class, RetryAfter: after, Message: msg, Err: cause}
}

func (r *Rotator) deleteNew(ctx context.Context, rot Rotation, in *intent) error {
	if ck, ok := rot.Creator.(providers.CreatedKeys); ok {
		return ck.DeleteCreated(ctx, providers.Created{Credential: r.newCredential(rot, in), Facts: in.NewFacts})
	}
	_, err := rot.Provider.Revoke(ctx, r.newCredential(rot, in))
	return err
}

// forward writes the recorded key to the secret (unless an earlier attempt
// did), sets the custom metadata, verifies the new key, revokes the old one
// and clears the intent.
func (r *Rotator) forward(ctx context.Context, rot Rotation, in *intent, cur *KVSecret) (Outcome, error) {
	out := Outcome{Action: "rotated", NewKeyID: in.NewKeyID, NewHint: secret.Hint(in.NewSecret), Facts: map[string]string{}}
	for k, v := range in.NewFacts {
		out.Facts[k] = v
	}
	ipath := r.IntentPath(rot.Mount, rot.Path)
	switch {
	case fieldIs(cur, rot.Field, in.NewSecret):
		out.Version = cur.Version // written by an interrupted attempt
	case cur.Version == in.BaseVersion && fieldIs(cur, rot.Field, rot.Old.Secret):
		data := make(map[string]any, len(cur.Data))
		for k, v := range cur.Data {
			data[k] = v
		}
		data[rot.Field] = in.NewSecret.Reveal()
		v, err := r.Client.KVWrite(ctx, rot.Mount, rot.Path, data, in.BaseVersion)
		if err != nil {
			why := "could not write the new key to " + rot.Mount + "/" + rot.Path
			if errors.Is(err, ErrCASConflict) {
				why = rot.Mount + "/" + rot.Path + " changed concurrently (check-and-set on version " + strconv.Itoa(in.BaseVersion) + " failed)"
			}
			return Outcome{}, r.rollbackCreated(ctx, rot, in, why, err)
		}
		out.Version = v
		cur = &KVSecret{Data: data, Version: v, CustomMetadata: cur.CustomMetadata}
		if err := r.hook(ctx, PhaseWritten); err != nil {
			return Outcome{}, errHook{err}
		}
	default:
		// The secret moved on after our intent. Did we write before it did?
		ours, err := r.Client.KVRead(ctx, rot.Mount, rot.Path, in.BaseVersion+1)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Outcome{}, err
		}
		if !fieldIs(ours, rot.Field, in.NewSecret) {
			return Outcome{}, r.rollbackCreated(ctx, rot, in,
				rot.Mount+"/"+rot.Path+" changed concurrently before the new key was written", &providers.Error{Provider: Name, Op: OpRotate, Class: providers.Retryable, Err: ErrCASConflict})
		}
		out.Version = ours.Version
		out.Notes = append(out.Notes, fmt.Sprintf("version %d was written after ours", cur.Version))
	}

	if cur.Version == out.Version {
		md := map[string]string{
			"rotated_by": "firebreak", "incident": rot.Incident, "previous_fingerprint": rot.Old.Fingerprint,
			"rotated_at": r.now().UTC().Format(time.RFC3339), "rotation": in.Token, "rotated_version": strconv.Itoa(out.Version),
		}
		if r.Instance != "" {
			md["rotated_by"] = "firebreak/" + r.Instance
		}
		if cur.CustomMetadata["rotation"] != in.Token {
			if err := r.Client.KVSetCustomMetadata(ctx, rot.Mount, rot.Path, cur.CustomMetadata, md); err != nil {
				return Outcome{}, err
			}
		}
	}
	if err := r.hook(ctx, PhaseMetadata); err != nil {
		return Outcome{}, errHook{err}
	}

	vr, err := rot.Provider.Verify(ctx, r.newCredential(rot, in))
	if err != nil {
		return Outcome{}, err
	}
	if !vr.Live {
		in.VerifyFails++
		limit := r.VerifyAttempts
		if limit <= 0 {
			limit = 5
		}
		if in.VerifyFails >= limit {
			return Outcome{}, r.rollbackWritten(ctx, rot, in, out.Version, fmt.Sprintf("the new key was not live after %d checks (%s)", in.VerifyFails, vr.Detail))
		}
		if v, err := r.Client.KVWrite(ctx, r.intentMount(), ipath, in.data(), in.version); err == nil {
			in.version = v
		}
		return Outcome{}, &providers.Error{Provider: rot.Old.Provider, Op: OpRotate, Class: providers.Retryable, RetryAfter: 2 * time.Second,
			Message: fmt.Sprintf("the new key %s is not live yet (%d/%d): %s", out.NewHint, in.VerifyFails, limit, vr.Detail)}
	}
	if err := r.hook(ctx, PhaseVerified); err != nil {
		return Outcome{}, errHook{err}
	}
	if err := r.revokeOld(ctx, rot, &out); err != nil {
		return Outcome{}, err
	}
	if err := r.hook(ctx, PhaseRevoked); err != nil {
		return Outcome{}, errHook{err}
	}
	if err := r.Client.KVDestroy(ctx, r.intentMount(), ipath); err != nil {
		return Outcome{}, err
	}
	if err := r.hook(ctx, PhaseCleared); err != nil {
		return Outcome{}, errHook{err}
	}
	return out, nil
}

// rollbackWritten undoes a written rotation whose new key never went live:
// it writes the previous data back (check-and-set on our version, so a later
// write by someone else is kept), deletes the new key and clears the intent.
func (r *Rotator) rollbackWritten(ctx context.Context, rot Rotation, in *intent, version int, why string) error {
	base, err := r.Client.KVRead(ctx, rot.Mount, rot.Path, in.BaseVersion)
	if err != nil {
		return err
	}
	restored := "restored version " + strconv.Itoa(in.BaseVersion) + "'s data"
	if _, err := r.Client.KVWrite(ctx, rot.Mount, rot.Path, base.Data, version); errors.Is(err, ErrCASConflict) {
		restored = "left " + rot.Mount + "/" + rot.Path + " as someone else wrote it after us"
	} else if err != nil {
		return err
	}
	if err := r.deleteNew(ctx, rot, in); err != nil {
		return err
	}
	if err := r.Client.KVDestroy(ctx, r.intentMount(), r.IntentPath(rot.Mount, rot.Path)); err != nil {
		return err
	}
	return &providers.Error{Provider: rot.Old.Provider, Op: OpRotate, Class: providers.Permanent,
		Message: fmt.Sprintf("rolled back: %s; %s, deleted the new key %s; the old key was not revoked by this rotation", why, restored, in.NewKeyID)}
}
