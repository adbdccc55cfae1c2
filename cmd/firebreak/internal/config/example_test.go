package config

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// keyLine is a commented-out field of the example ("# token: env:X"), as
// opposed to prose.
var keyLine = regexp.MustCompile(`^\s*[a-z0-9_]+:(\s|$)`)

// uncommented turns the example's commented-out fields back into YAML,
// keeping their indentation ("  #   default: {…}" → "    default: {…}").
func uncommented(s string) string {
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		if rest, ok := strings.CutPrefix(trimmed, "# "); ok && keyLine.MatchString(rest) {
			lines[i] = line[:len(line)-len(trimmed)] + rest
		}
	}
	return strings.Join(lines, "\n")
}

// fieldPaths lists every field of t by its YAML path; the entries of a map
// of sections are "path.*", the items of a list of sections "path[]".
func fieldPaths(t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map || t.Kind() == reflect.Slice {
		switch t.Kind() {
		case reflect.Map:
			path += ".*"
		case reflect.Slice:
			path += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || implementsText(t) {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		name := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		p := join(path, name)
		*out = append(*out, p)
		fieldPaths(t.Field(i).Type, p, out)
	}
}

// docPaths records the paths present in n (read as type t) in fieldPaths'
// form.
func docPaths(n *yaml.Node, t reflect.Type, path string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			fields[strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]] = t.Field(i).Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			out[p] = true
			if ft, ok := fields[n.Content[i].Value]; ok {
				docPaths(n.Content[i+1], ft, p, out)
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			docPaths(n.Content[i+1], t.Elem(), path+".*", out)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for _, e := range n.Content {
			docPaths(e, t.Elem(), path+"[]", out)
		}
	}
}

// TestExampleIsComplete: `firebreak config example` shows every field of
// the configuration (set to its default, or commented out with an example
// value), and its commented-out fields are real ones of the right type, so the
// example cannot drift from the Config struct.
func TestExampleIsComplete(t *testing.T) {
	doc := uncommented(Example + ExampleOncall)
	if probs := parseFile("example", []byte(doc), &Config{}, map[string]place{}); len(probs) > 0 {
		t.Errorf("the example, its commented-out fields included, is not a valid configuration file:\n%v\n%s", probs, doc)
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	docPaths(n.Content[0], reflect.TypeOf(Config{}), "", present)
	var all, missing []string
	fieldPaths(reflect.TypeOf(Config{}), "", &all)
	for _, p := range all {
		if !present[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("`firebreak config example` lacks %d field(s):\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
}
