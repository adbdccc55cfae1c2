package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestJSONErrorNamesTheFieldInJSONTerms: a wrongly typed field is described
// by the JSON kind the sender should have written, never by Firebreak's Go
// types, and the document's content is not echoed.
func TestJSONErrorNamesTheFieldInJSONTerms(t *testing.T) {
	type alert struct {
		Number int64 `json:"number"`
	}
	var doc struct {
		Alert  alert    `json:"alert"`
		Action string   `json:"action"`
		Tags   []string `json:"tags"`
		Public bool     `json:"public"`
	}
	for _, tc := range []struct{ in, want string }{
		{`{"alert":"canary-sk-123"}`, `malformed JSON: field "alert" must be an object, got string (byte 24)`},
		{`{"alert":{"number":"7"}}`, `malformed JSON: field "alert.number" must be an integer, got string (byte 22)`},
		{`{"action":12}`, `malformed JSON: field "action" must be a string, got number (byte 12)`},
		{`{"tags":{}}`, `malformed JSON: field "tags" must be an array, got object (byte 9)`},
		{`{"public":"yes"}`, `malformed JSON: field "public" must be true or false, got string (byte 15)`},
	} {
		got := JSONError(json.Unmarshal([]byte(tc.in), &doc))
		if strings.Contains(got, "canary") {
			t.Errorf("the error echoes the document: %s", got)
		}
		if got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}

// TestJSONErrorDoesNotEchoLongNames: an unknown or wrongly typed field whose
// name is longer than any of Firebreak's (a key pasted as a name) is
// described by its length only.
func TestJSONErrorDoesNotEchoLongNames(t *testing.T) {
	const key = "sk-proj-CANARYcanaryCANARYcanaryCANARYcanary0123"
	var doc struct {
		Labels map[string]int `json:"labels"`
		Line   string         `json:"line"`
	}
	for _, tc := range []struct{ in, want string }{
		{`{"line":"x","nosuch":1}`, `malformed JSON: unknown field "nosuch"`},
		{`{"` + key + `":1}`, `malformed JSON: unknown field (a 48-byte name, not shown)`},
		{`{"labels":{"` + key + `":"v"}}`, `malformed JSON: field "labels" must be an integer, got string (byte 65)`},
	} {
		dec := json.NewDecoder(strings.NewReader(tc.in))
		dec.DisallowUnknownFields()
		got := JSONError(dec.Decode(&doc))
		if strings.Contains(got, "CANARY") {
			t.Errorf("the error echoes the name: %d bytes", len(got))
		}
		if got != tc.want {
			t.Errorf("%.20s…:\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}

// TestJSONErrorNamesAWrongDocument: a document of the wrong kind (an array
// where an object is read) is described as the document, not as a field
// with an empty name.
func TestJSONErrorNamesAWrongDocument(t *testing.T) {
	var doc struct {
		Name string `json:"name"`
	}
	for _, tc := range []struct{ in, want string }{
		{`[1]`, `malformed JSON: the document must be an object, got array (byte 1)`},
		{`"sk-canary"`, `malformed JSON: the document must be an object, got string (byte 11)`},
	} {
		got := JSONError(json.Unmarshal([]byte(tc.in), &doc))
		if got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}

// TestQuoteShowsOnlyWhatIsPlainlyNoSecret: a value from a request is quoted
// in an error message only when it is short, holds no key the detectors
// recognise and does not look generated; Firebreak's own ids are quoted.
// Anything else is described by its length.
func TestQuoteShowsOnlyWhatIsPlainlyNoSecret(t *testing.T) {
	// Canaries are built here, never written whole in the source.
	stripe := "sk_live_" + strings.Repeat("qWeRtYuIoPaS", 2) // 32 bytes, a Stripe live key's shape
	awsID := "AKIA" + "QWERTYUIOPASDFGH"                     // 20 bytes, an AWS access key id
	signing := strings.Repeat("8f74", 8)                     // 32 hex digits: a Slack signing secret's shape
	openai := "sk-proj-" + strings.Repeat("CANARYcanary", 4) + "T3BlbkFJ"
	for _, c := range []struct{ in, want string }{
		{"state", `"state"`},
		{"provider/opena1", `"provider/opena1"`},
		{"2026-10-31T08:00:00Z", `"2026-10-31T08:00:00Z"`},
		{"99999999999999999999d", `"99999999999999999999d"`},
		{"inc_93c346e235f54617b68af4f4", `"inc_93c346e235f54617b68af4f4"`},
		{"apr_0123456789abcdef01234567", `"apr_0123456789abcdef01234567"`},
		{"exp_01jc3vw2k8a1b2c3d4e5f6g7h8", `"exp_01jc3vw2k8a1b2c3d4e5f6g7h8"`},
		{"tok_9c1e4a7b22f0", `"tok_9c1e4a7b22f0"`},
		{"", `""`},
		{stripe, "(a 32-byte id, not shown)"},
		{awsID, "(a 20-byte id, not shown)"},
		{signing, "(a 32-byte id, not shown)"},
		{"abc" + signing[:12], "(a 15-byte id, not shown)"},
		{openai, "(a 64-byte id, not shown)"},
		{strings.Repeat("a", 33), "(a 33-byte id, not shown)"},
	} {
		if got := Quote(c.in, "id"); got != c.want {
			t.Errorf("Quote(%.12q…) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestPathHidesOnlyTheSegmentsThatMayBeSecrets: a path in an error message
// keeps its route's words and Firebreak's ids and describes the rest.
func TestPathHidesOnlyTheSegmentsThatMayBeSecrets(t *testing.T) {
	key := "sk-proj-" + strings.Repeat("CANARYcanary", 4)
	for _, c := range []struct{ in, want string }{
		{"/v1/nosuch", "/v1/nosuch"},
		{"/v1/incidents/inc_93c346e235f54617b68af4f4/timeline", "/v1/incidents/inc_93c346e235f54617b68af4f4/timeline"},
		{"/v1/incidents/" + key + "/timeline", "/v1/incidents/(a 56-byte segment, not shown)/timeline"},
		{"/", "/"},
	} {
		if got := Path(c.in); got != c.want {
			t.Errorf("Path(%.30q…) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestJSONErrorDoesNotEchoATime: a time that does not parse is described
// without its value when the value may be a secret (encoding/json's own
// message repeats it whole).
func TestJSONErrorDoesNotEchoATime(t *testing.T) {
	var doc struct {
		Since time.Time `json:"since"`
	}
	key := "sk-proj-" + strings.Repeat("CANARYcanary", 4)
	for _, c := range []struct{ in, want string }{
		{`{"since":"yesterday"}`, `malformed JSON: a time must be RFC 3339 (2006-01-02T15:04:05Z), got "yesterday"`},
		{`{"since":"` + key + `"}`, `malformed JSON: a time must be RFC 3339 (2006-01-02T15:04:05Z), got (a 56-byte value, not shown)`},
	} {
		got := JSONError(json.Unmarshal([]byte(c.in), &doc))
		if got != c.want {
			t.Errorf("%.20s…:\n got  %s\n want %s", c.in, got, c.want)
		}
	}
}

// TestBodyErrorDoesNotEchoAnEncoding: an unknown Content-Encoding is named
// when it is a word and described when it may be a secret.
func TestBodyErrorDoesNotEchoAnEncoding(t *testing.T) {
	key := "sk-proj-" + strings.Repeat("CANARYcanary", 4)
	for _, c := range []struct{ enc, want string }{
		{"br", `{"error":"unsupported or corrupt Content-Encoding: \"br\""}`},
		{key, `{"error":"unsupported or corrupt Content-Encoding: (a 56-byte value, not shown)"}`},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/ingest/logs", strings.NewReader("x"))
		r.Header.Set("Content-Encoding", c.enc)
		_, err := ReadBody(w, r, 1<<10)
		if code := BodyError(w, err, 1<<10); code != http.StatusBadRequest {
			t.Fatalf("Content-Encoding %.8s…: %d", c.enc, code)
		}
		if got := strings.TrimSpace(w.Body.String()); got != c.want {
			t.Errorf("Content-Encoding %.8s…:\n got  %s\n want %s", c.enc, got, c.want)
		}
	}
}
