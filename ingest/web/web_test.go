package web

import (
	"encoding/json"
	"strings"
	"testing"
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
