package playbooks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks/builtin"
)

// Set is the playbooks a responder runs, in load order (built-ins first, then
// the configured directory's files in lexical order).
type Set struct {
	Playbooks []*Playbook
}

// ParseFile parses one playbook file from disk.
func ParseFile(path string, cat *Catalog) ([]*Playbook, ErrorList) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{Pos: Pos{File: path, Line: 1, Col: 1}, Msg: err.Error()}}
	}
	return Parse(path, b, cat)
}

// Load parses the built-in playbooks (when builtins is true) and every
// *.yaml/*.yml file in dir (when set). It returns all problems at once. A
// playbook in dir replaces a built-in of the same name; two files defining the
// same name is an error.
func Load(cat *Catalog, builtins bool, dir string) (*Set, error) {
	var errs ErrorList
	byName := map[string]*Playbook{}
	var order []string
	add := func(pbs []*Playbook, fromBuiltin bool) {
		for _, pb := range pbs {
			pb.Builtin = fromBuiltin
			if prev, ok := byName[pb.Name]; ok {
				if !prev.Builtin {
					errs = append(errs, Error{Pos: pb.Pos, Path: "name",
						Msg: fmt.Sprintf("playbook %q is already defined at %s:%d:%d", pb.Name, prev.Pos.File, prev.Pos.Line, prev.Pos.Col)})
					continue
				}
			} else {
				order = append(order, pb.Name)
			}
			byName[pb.Name] = pb
		}
	}
	if builtins {
		files, err := fs.Glob(builtin.FS, "*.yaml")
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			b, _ := fs.ReadFile(builtin.FS, f)
			pbs, e := Parse("builtin/"+f, b, cat)
			errs = append(errs, e...)
			add(pbs, true)
		}
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("playbooks dir: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
				continue
			}
			pbs, pe := ParseFile(filepath.Join(dir, name), cat)
			errs = append(errs, pe...)
			add(pbs, false)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	s := &Set{}
	for _, n := range order {
		s.Playbooks = append(s.Playbooks, byName[n])
	}
	return s, nil
}

// Selection is the outcome of matching one playbook against an exposure.
type Selection struct {
	Playbook *Playbook
	Matched  bool
	Reason   string
}

// Select returns, for every playbook, whether it matches e and why.
func (s *Set) Select(e *exposure.Event, incident IncidentView) []Selection {
	out := make([]Selection, 0, len(s.Playbooks))
	for _, pb := range s.Playbooks {
		ok, why := pb.Matches(e, incident)
		out = append(out, Selection{Playbook: pb, Matched: ok, Reason: why})
	}
	return out
}

// Matching returns the playbooks that match e.
func (s *Set) Matching(e *exposure.Event, incident IncidentView) []*Playbook {
	var out []*Playbook
	for _, sel := range s.Select(e, incident) {
		if sel.Matched {
			out = append(out, sel.Playbook)
		}
	}
	return out
}

// Get returns the playbook with the given name.
func (s *Set) Get(name string) (*Playbook, error) {
	for _, pb := range s.Playbooks {
		if pb.Name == name {
			return pb, nil
		}
	}
	return nil, errors.New("no playbook named " + name)
}
