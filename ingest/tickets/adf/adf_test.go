package adf

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const doc = `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"key SECRET here"},` +
	`{"type":"text","text":"link","marks":[{"type":"link","attrs":{"href":"https://x/?k=SECRET"}}]},{"type":"hardBreak"},` +
	`{"type":"mention","attrs":{"id":"123","text":"@bob"}}]},{"type":"codeBlock","attrs":{"language":"sh"},"content":[{"type":"text","text":"SECRET"}]},` +
	`{"type":"table","attrs":{"width":760.5},"content":[]}]}`

func TestTextAndReplaceKeepEverythingElse(t *testing.T) {
	txt, err := Text(json.RawMessage(doc))
	if err != nil || strings.Count(txt, "SECRET") != 3 {
		t.Fatalf("text %q %v", txt, err)
	}
	out, n, err := Replace(json.RawMessage(doc), "SECRET", "[gone]")
	if err != nil || n != 3 {
		t.Fatalf("replace: %d %v", n, err)
	}
	var got, want any
	_ = json.Unmarshal(out, &got)
	_ = json.Unmarshal([]byte(strings.ReplaceAll(doc, "SECRET", "[gone]")), &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replace changed more than the secret:\n%s", out)
	}
	if !strings.Contains(string(out), `760.5`) {
		t.Fatal("number formatting lost")
	}
	if _, n, _ := Replace(json.RawMessage(doc), "absent", "x"); n != 0 {
		t.Fatal("replaced an absent string")
	}
	if _, err := Text(json.RawMessage(`{"type":"paragraph"}`)); err == nil {
		t.Fatal("a non-doc accepted")
	}
	if !IsDoc(FromText("a\nb")) {
		t.Fatal("FromText is not a doc")
	}
}

func FuzzADF(f *testing.F) {
	f.Add([]byte(doc), "SECRET")
	f.Add([]byte(`{"type":"doc","content":[[[[]]]]}`), "x")
	f.Add([]byte(`{}`), "")
	f.Fuzz(func(t *testing.T, b []byte, old string) {
		_, _ = Text(b)
		out, n, err := Replace(b, old, "\x00MARK\x00")
		if err != nil || n == 0 {
			return
		}
		if !IsDoc(out) {
			t.Fatal("Replace produced a non-document")
		}
	})
}
