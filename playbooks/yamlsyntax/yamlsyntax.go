// Package yamlsyntax locates YAML syntax errors. yaml.v3 (which Firebreak
// parses playbooks and its configuration with, for its node positions) names
// only a line for a syntax error, and often the line where the enclosing
// block starts rather than the offending token. Locate finds the token with
// goccy/go-yaml's parser, which reports line and column, and otherwise
// narrows yaml.v3's own answer where its message says what to look for.
package yamlsyntax

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
)

// Error is a located YAML syntax error: Line and Col are 1-based and count
// over the whole input, whatever its document.
type Error struct {
	Line, Col int
	Msg       string // without yaml.v3's "yaml: line N:" prefix
}

var (
	yamlLine      = regexp.MustCompile(`line (\d+)`)
	unknownAnchor = regexp.MustCompile(`unknown anchor '([^']+)' referenced`)
	lineBreak     = regexp.MustCompile(`\r\n|\r|\n`) // YAML's line breaks
)

// maxOpeners bounds the '[' and '{' of an input (and so the nesting of its
// flow collections) that Locate asks goccy/go-yaml about: its parser takes
// time quadratic in that nesting, with no limit of its own (10 s for 30,000
// "- ["); at this bound it takes a fraction of a second. A playbook or a
// configuration file holds a few hundred at most.
const maxOpeners = 4096

// Locate positions err, the syntax error yaml.v3 returned for data. The
// position is goccy/go-yaml's when it finds an error at or after yaml.v3's
// line; else, for an unknown anchor, the first use of the alias; for a
// misplaced mapping value, the colon on yaml.v3's line; else yaml.v3's line
// (line 1 when it names none) at column 1.
func Locate(data []byte, err error) Error {
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	// Duplicate keys are not syntax errors to yaml.v3 either; callers
	// report them with the key's path.
	var gerr error
	if bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) <= maxOpeners {
		_, gerr = goccyparser.ParseBytes(data, 0, goccyparser.AllowDuplicateMapKey())
	}
	var se *goccy.SyntaxError
	if errors.As(gerr, &se) && se.Token != nil {
		if at := se.Token.Position; at.Line >= line && at.Column >= 1 {
			// goccy quotes the offending character raw: show a tab as \t.
			msg := strings.NewReplacer("\t", `\t`, "\r", `\r`, "\n", `\n`).Replace(se.Message)
			return Error{Line: at.Line, Col: at.Column, Msg: msg}
		}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = yamlLine.ReplaceAllString(msg, "")
	msg = strings.TrimLeft(msg, ": ")
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		if l, c, ok := find(data, regexp.MustCompile(`\*`+regexp.QuoteMeta(m[1])+`(?:[\s,\]\}]|$)`), 0); ok {
			return Error{Line: l, Col: c, Msg: msg}
		}
	}
	if line == 0 {
		line = 1
	}
	if strings.HasPrefix(msg, "mapping values are not allowed") {
		if l, c, ok := find(data, regexp.MustCompile(`:(?:\s|$)`), line); ok && l == line {
			return Error{Line: l, Col: c, Msg: msg}
		}
	}
	return Error{Line: line, Col: 1, Msg: msg}
}

// find returns the line and column of re's first match in data at or after
// line (1-based; 0 for anywhere), columns counted in runes.
func find(data []byte, re *regexp.Regexp, from int) (line, col int, ok bool) {
	for i, l := range lineBreak.Split(string(data), -1) {
		if i+1 < from {
			continue
		}
		if loc := re.FindStringIndex(l); loc != nil {
			return i + 1, len([]rune(l[:loc[0]])) + 1, true
		}
	}
	return 0, 0, false
}
