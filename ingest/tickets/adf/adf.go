// Package adf reads and edits Atlassian Document Format documents, the JSON
// rich-text format of Jira Cloud's REST API v3 (issue descriptions, comment
// bodies): {"type":"doc","version":1,"content":[{"type":"paragraph",
// "content":[{"type":"text","text":"…","marks":[…]}]}]}
// (developer.atlassian.com, "Atlassian Document Format").
//
// Text extracts what a person reads, for secret detection; Replace edits the
// text of text nodes (and link targets) in place and leaves every other node,
// attribute and mark as it was.
package adf

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// ErrNotADF is returned for JSON that is not an ADF document.
var ErrNotADF = errors.New("not an Atlassian Document Format document (want {\"type\":\"doc\",…})")

// maxDepth bounds recursion on hostile documents.
const maxDepth = 200

// blockTypes end a line in Text.
var blockTypes = map[string]bool{
	"paragraph": true, "heading": true, "codeBlock": true, "blockquote": true, "listItem": true,
	"tableCell": true, "tableHeader": true, "panel": true, "rule": true, "mediaSingle": true,
}

// Text returns the document's text: text nodes concatenated, hardBreaks and
// block ends as newlines, link targets on their own lines (a key can hide in
// a URL).
func Text(doc json.RawMessage) (string, error) {
	v, err := decode(doc)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	walkText(v, &b, 0)
	return b.String(), nil
}

func decode(doc json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, ErrNotADF
	}
	m, ok := v.(map[string]any)
	if !ok || m["type"] != "doc" {
		return nil, ErrNotADF
	}
	return m, nil
}

func walkText(n any, b *strings.Builder, depth int) {
	if depth > maxDepth {
		return
	}
	m, ok := n.(map[string]any)
	if !ok {
		return
	}
	typ, _ := m["type"].(string)
	switch typ {
	case "text":
		s, _ := m["text"].(string)
		b.WriteString(s)
		if marks, ok := m["marks"].([]any); ok {
			for _, mk := range marks {
				if mm, ok := mk.(map[string]any); ok {
					if attrs, ok := mm["attrs"].(map[string]any); ok {
						if href, ok := attrs["href"].(string); ok && href != "" {
							b.WriteString("\n" + href + "\n")
						}
					}
				}
			}
		}
	case "hardBreak":
		b.WriteByte('\n')
	case "inlineCard", "blockCard", "embedCard":
		if attrs, ok := m["attrs"].(map[string]any); ok {
			if u, ok := attrs["url"].(string); ok {
				b.WriteString("\n" + u + "\n")
			}
		}
	}
	if content, ok := m["content"].([]any); ok {
		for _, c := range content {
			walkText(c, b, depth+1)
		}
	}
	if blockTypes[typ] {
		b.WriteByte('\n')
	}
}

// Replace replaces every occurrence of old with new in the document's text
// nodes and link targets (mark href, card url) and returns the edited
// document and the number of replacements. Numbers, attributes, marks and
// node order are kept; only the JSON formatting of the document may differ.
// It returns n == 0 and the input when old does not occur in a single text
// node (a secret split by formatting across nodes is reported by the caller).
func Replace(doc json.RawMessage, old, new string) (json.RawMessage, int, error) {
	if old == "" {
		return doc, 0, errors.New("adf: empty search string")
	}
	v, err := decode(doc)
	if err != nil {
		return nil, 0, err
	}
	n := replaceIn(v, old, new, 0)
	if n == 0 {
		return doc, 0, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, 0, err
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n")), n, nil
}

func replaceIn(n any, old, new string, depth int) int {
	if depth > maxDepth {
		return 0
	}
	count := 0
	switch t := n.(type) {
	case map[string]any:
		for k, v := range t {
			if s, ok := v.(string); ok && (k == "text" || k == "href" || k == "url") && strings.Contains(s, old) {
				count += strings.Count(s, old)
				t[k] = strings.ReplaceAll(s, old, new)
				continue
			}
			count += replaceIn(v, old, new, depth+1)
		}
	case []any:
		for _, v := range t {
			count += replaceIn(v, old, new, depth+1)
		}
	}
	return count
}

// FromText builds a document of one paragraph per line of s.
func FromText(s string) json.RawMessage {
	var paras []any
	for _, line := range strings.Split(s, "\n") {
		p := map[string]any{"type": "paragraph", "content": []any{}}
		if line != "" {
			p["content"] = []any{map[string]any{"type": "text", "text": line}}
		}
		paras = append(paras, p)
	}
	b, _ := json.Marshal(map[string]any{"type": "doc", "version": 1, "content": paras})
	return b
}

// IsDoc reports whether raw is an ADF document (a JSON object of type doc).
func IsDoc(raw json.RawMessage) bool {
	_, err := decode(raw)
	return err == nil
}
