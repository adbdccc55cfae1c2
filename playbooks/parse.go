package playbooks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks/yamlsyntax"
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	stepIDRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

// Environments a match may name.
var environments = []string{exposure.EnvProd, exposure.EnvStaging, exposure.EnvDev, exposure.EnvUnknown}

// Parse parses and validates the playbooks in one file (one or more YAML
// documents). It returns every problem found, each with file:line:col and
// the field path; the playbooks are usable only when the list is empty.
func Parse(file string, data []byte, cat *Catalog) ([]*Playbook, ErrorList) {
	p := &parser{file: file, cat: cat}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Playbook
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.errs = append(p.errs, syntaxError(file, data, err))
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		if pb := p.playbook(doc.Content[0]); pb != nil {
			out = append(out, pb)
		}
	}
	if len(out) == 0 && len(p.errs) == 0 {
		p.errs = append(p.errs, Error{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "no playbook in file"})
	}
	p.errs.sort()
	return out, p.errs
}

// syntaxError positions yaml.v3's syntax error err in data (yamlsyntax).
func syntaxError(file string, data []byte, err error) Error {
	at := yamlsyntax.Locate(data, err)
	return Error{Pos: Pos{File: file, Line: at.Line, Col: at.Col}, Msg: "invalid YAML: " + at.Msg}
}

type parser struct {
	file string
	cat  *Catalog
	errs ErrorList
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{File: p.file, Line: n.Line, Col: n.Column} }

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.errs = append(p.errs, Error{Pos: p.pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping walks a mapping node, reporting keys not in allowed and keys given
// twice (fn sees only the first).
func (p *parser) mapping(n *yaml.Node, path string, allowed []string, fn func(key string, k, v *yaml.Node)) bool {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping, got %s", kindName(n))
		return false
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if p.duplicate(seen, k, path) {
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			p.errorf(k, join(path, k.Value), "unknown key (allowed: %s)", strings.Join(allowed, ", "))
			continue
		}
		fn(k.Value, k, v)
	}
	return true
}

// duplicate reports k when seen already holds its key, else records it.
func (p *parser) duplicate(seen map[string]*yaml.Node, k *yaml.Node, path string) bool {
	if first, ok := seen[k.Value]; ok {
		p.errorf(k, join(path, k.Value), "duplicate key (first at line %d)", first.Line)
		return true
	}
	seen[k.Value] = k
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return strings.TrimPrefix(n.Tag, "!!") + " " + strconv.Quote(n.Value)
	}
	return "nothing"
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.errorf(n, path, "must be a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// scalarText accepts any scalar (expressions may be written unquoted: `if: true`).
func (p *parser) scalarText(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, path, "must be a scalar, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) strList(n *yaml.Node, path string, allowed []string) []string {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "must be a list, got %s", kindName(n))
		return nil
	}
	var out []string
	for i, e := range n.Content {
		e = deref(e)
		ep := fmt.Sprintf("%s[%d]", path, i)
		s, ok := p.str(e, ep)
		if !ok {
			continue
		}
		if len(allowed) > 0 && !slices.Contains(allowed, s) {
			p.errorf(e, ep, "unknown value %q (known: %s)", s, strings.Join(allowed, ", "))
			continue
		}
		out = append(out, s)
	}
	return out
}

func (p *parser) duration(n *yaml.Node, path string, min, max time.Duration) (time.Duration, bool) {
	// A duration is a string: an unquoted 0 is an integer and must not pass.
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.errorf(n, path, "must be a duration such as \"30s\" or \"1m\", got %s", kindName(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.errorf(n, path, "must be a duration such as \"30s\" or \"1m\", got %q", n.Value)
		return 0, false
	}
	if d < min || (max > 0 && d > max) {
		p.errorf(n, path, "must be between %s and %s, got %s", min, max, d)
		return 0, false
	}
	return d, true
}

func (p *parser) playbook(n *yaml.Node) *Playbook {
	n = deref(n)
	pb := &Playbook{Pos: p.pos(n)}
	seen := map[string]bool{}
	var stepsNode, failureNode *yaml.Node
	ok := p.mapping(n, "", []string{"apiVersion", "kind", "name", "description", "match", "steps", "on_failure"}, func(key string, k, v *yaml.Node) {
		seen[key] = true
		switch key {
		case "apiVersion":
			if s, ok := p.str(v, key); ok && s != APIVersion {
				p.errorf(v, key, "must be %q, got %q", APIVersion, s)
			}
		case "kind":
			if s, ok := p.str(v, key); ok && s != Kind {
				p.errorf(v, key, "must be %q, got %q", Kind, s)
			}
		case "name":
			if s, ok := p.str(v, key); ok {
				if !nameRE.MatchString(s) {
					p.errorf(v, key, "must be lowercase letters, digits and '-' (at most 63), got %q", s)
				}
				pb.Name = s
			}
		case "description":
			pb.Description, _ = p.str(v, key)
		case "match":
			p.match(v, &pb.Match)
		case "steps":
			stepsNode = v
		case "on_failure":
			failureNode = v // parsed after steps, below
		}
	})
	if !ok {
		return nil
	}
	for _, req := range []string{"apiVersion", "kind", "name", "steps"} {
		if !seen[req] {
			p.errorf(n, req, "is required")
		}
	}
	ids := map[string]bool{}
	if stepsNode != nil {
		pb.Steps = p.steps(stepsNode, "steps", ids, false)
		if stepsNode.Kind == yaml.SequenceNode && len(stepsNode.Content) == 0 {
			p.errorf(stepsNode, "steps", "must have at least one step")
		}
	}
	if failureNode != nil {
		pb.OnFailure = p.steps(failureNode, "on_failure", ids, true)
	}
	return pb
}

func (p *parser) match(n *yaml.Node, m *Match) {
	p.mapping(n, "match", []string{"providers", "sources", "environments", "secret_types", "when"}, func(key string, k, v *yaml.Node) {
		path := "match." + key
		switch key {
		case "providers":
			m.Providers = p.strList(v, path, p.cat.Providers)
		case "sources":
			m.Sources = p.strList(v, path, p.cat.Sources)
		case "environments":
			m.Environments = p.strList(v, path, environments)
		case "secret_types":
			m.SecretTypes = p.strList(v, path, nil)
		case "when":
			if s, ok := p.scalarText(v, path); ok {
				m.When = s
				m.when = p.expression(v, path, s, nil)
			}
		}
	})
}

func (p *parser) steps(n *yaml.Node, path string, ids map[string]bool, onFailure bool) []*Step {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "must be a list of steps, got %s", kindName(n))
		return nil
	}
	var out []*Step
	for i, sn := range n.Content {
		sp := fmt.Sprintf("%s[%d]", path, i)
		if s := p.step(deref(sn), sp, ids); s != nil {
			if s.ID == "" && onFailure {
				s.ID = fmt.Sprintf("on_failure_%d", i)
			}
			if s.Name == "" {
				s.Name = s.ID
			}
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) step(n *yaml.Node, path string, ids map[string]bool) *Step {
	s := &Step{Pos: p.pos(n), Retry: DefaultRetry(), Timeout: DefaultTimeout}
	var withNode, usesNode, idNode, whenNode *yaml.Node
	ok := p.mapping(n, path, []string{"id", "name", "uses", "with", "if", "when", "retry", "timeout"}, func(key string, k, v *yaml.Node) {
		kp := join(path, key)
		switch key {
		case "id":
			idNode = v
			if id, ok := p.str(v, kp); ok {
				switch {
				case !stepIDRE.MatchString(id):
					p.errorf(v, kp, "must start with a letter and hold only lowercase letters, digits and '_', got %q", id)
				case ids[id]:
					p.errorf(v, kp, "duplicate step id %q", id)
				default:
					s.ID = id
				}
			}
		case "name":
			s.Name, _ = p.str(v, kp)
		case "uses":
			usesNode = v
			s.Uses, _ = p.str(v, kp)
		case "with":
			withNode = v
		case "if":
			if src, ok := p.scalarText(v, kp); ok {
				s.If = src
				s.cond = p.expression(v, kp, src, ids)
			}
		case "when":
			whenNode = v // checked below, once uses is known
		case "retry":
			p.retry(v, kp, &s.Retry)
		case "timeout":
			if d, ok := p.duration(v, kp, time.Second, MaxTimeout); ok {
				s.Timeout = d
			}
		}
	})
	if !ok {
		return nil
	}
	if idNode == nil && !strings.HasPrefix(path, "on_failure") {
		p.errorf(n, join(path, "id"), "is required")
	}
	if usesNode == nil {
		p.errorf(n, join(path, "uses"), "is required")
	}
	spec, known := p.cat.Actions[s.Uses]
	if s.Uses != "" && !known {
		p.errorf(usesNode, join(path, "uses"), "unknown action %q (known: %s)", s.Uses, strings.Join(p.actionNames(), ", "))
	}
	if whenNode != nil {
		// `when` says when an approval step asks for approval; it is the
		// same expression language as `if`, spelled for readability.
		wp := join(path, "when")
		switch {
		case usesNode != nil && s.Uses != ApprovalAction:
			p.errorf(whenNode, wp, "only approval steps take when (other steps use if)")
		case s.If != "":
			p.errorf(whenNode, wp, "set either if or when, not both")
		default:
			if src, ok := p.scalarText(whenNode, wp); ok {
				s.If = src
				s.cond = p.expression(whenNode, wp, src, ids)
			}
		}
	}
	if known {
		// Templates may name the earlier steps only, as `if` may.
		s.With = p.with(withNode, join(path, "with"), spec, n, ids)
	}
	if s.ID != "" {
		ids[s.ID] = true
	}
	return s
}

func (p *parser) actionNames() []string {
	names := make([]string, 0, len(p.cat.Actions))
	for n := range p.cat.Actions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (p *parser) retry(n *yaml.Node, path string, r *Retry) {
	maxSet := false
	p.mapping(n, path, []string{"attempts", "backoff", "initial", "max"}, func(key string, k, v *yaml.Node) {
		kp := join(path, key)
		switch key {
		case "attempts":
			a, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || a < 1 || a > MaxAttempts {
				p.errorf(v, kp, "must be an integer from 1 to %d, got %s", MaxAttempts, kindName(v))
				return
			}
			r.Attempts = a
		case "backoff":
			if b, ok := p.str(v, kp); ok {
				if b != "constant" && b != "exponential" {
					p.errorf(v, kp, "must be \"constant\" or \"exponential\", got %q", b)
					return
				}
				r.Backoff = b
			}
		case "initial":
			if d, ok := p.duration(v, kp, time.Millisecond, time.Hour); ok {
				r.Initial = d
			}
		case "max":
			maxSet = true
			if d, ok := p.duration(v, kp, time.Millisecond, time.Hour); ok {
				r.Max = d
			}
		}
	})
	switch {
	case r.Max >= r.Initial:
	case maxSet:
		p.errorf(n, path, "max (%s) is less than initial (%s)", r.Max, r.Initial)
	default:
		p.errorf(n, path, "initial %s exceeds the default max %s; set max", r.Initial, r.Max)
	}
}

// with checks a step's parameters against its action's spec; templates may
// reference the steps in ids only.
func (p *parser) with(n *yaml.Node, path string, spec ActionSpec, stepNode *yaml.Node, ids map[string]bool) map[string]any {
	out := map[string]any{}
	given := map[string]bool{}
	if n != nil {
		allowed := make([]string, len(spec.Fields))
		for i, f := range spec.Fields {
			allowed[i] = f.Name
		}
		if len(allowed) == 0 {
			p.errorf(n, path, "%s takes no parameters", spec.Name)
			return out
		}
		p.mapping(n, path, allowed, func(key string, k, v *yaml.Node) {
			f, _ := spec.field(key)
			given[key] = true
			if val, ok := p.fieldValue(v, join(path, key), f, ids); ok {
				out[key] = val
			}
		})
	}
	for _, f := range spec.Fields {
		if given[f.Name] {
			continue
		}
		if f.Required {
			at := stepNode
			if n != nil {
				at = n
			}
			p.errorf(at, join(path, f.Name), "is required by %s", spec.Name)
		} else if f.Default != nil {
			out[f.Name] = f.Default
		}
	}
	return out
}

func (p *parser) fieldValue(v *yaml.Node, path string, f FieldSpec, ids map[string]bool) (any, bool) {
	switch f.Type {
	case TypeString:
		s, ok := p.scalarText(v, path)
		if !ok {
			return nil, false
		}
		if len(f.Enum) > 0 {
			if !slices.Contains(f.Enum, s) {
				p.errorf(v, path, "must be one of %s, got %q", strings.Join(f.Enum, ", "), s)
				return nil, false
			}
			return s, true
		}
		return p.template(v, path, s, ids)
	case TypeBool:
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
			p.errorf(v, path, "must be true or false, got %s", kindName(v))
			return nil, false
		}
		return v.Value == "true", true
	case TypeInt:
		i, err := strconv.Atoi(v.Value)
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil {
			p.errorf(v, path, "must be an integer, got %s", kindName(v))
			return nil, false
		}
		return i, true
	case TypeDuration:
		return p.duration(v, path, 0, 0)
	case TypeList:
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, path, "must be a list, got %s", kindName(v))
			return nil, false
		}
		out := make([]any, 0, len(v.Content))
		for i, e := range v.Content {
			ep := fmt.Sprintf("%s[%d]", path, i)
			s, ok := p.scalarText(deref(e), ep)
			if !ok {
				continue
			}
			if t, ok := p.template(deref(e), ep, s, ids); ok {
				out = append(out, t)
			}
		}
		return out, true
	case TypeMap:
		if v.Kind != yaml.MappingNode {
			p.errorf(v, path, "must be a mapping, got %s", kindName(v))
			return nil, false
		}
		out := map[string]any{}
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, e := v.Content[i], deref(v.Content[i+1])
			if p.duplicate(seen, k, path) {
				continue
			}
			ep := join(path, k.Value)
			s, ok := p.scalarText(e, ep)
			if !ok {
				continue
			}
			if t, ok := p.template(e, ep, s, ids); ok {
				out[k.Value] = t
			}
		}
		return out, true
	}
	p.errorf(v, path, "field type %q is not supported", f.Type)
	return nil, false
}

// template parses a `with` template and checks that every `.Steps.<id>` it
// names is in ids (the earlier steps): at run time a missing step renders as
// empty text, so a typo would go unnoticed.
func (p *parser) template(n *yaml.Node, path, src string, ids map[string]bool) (*Template, bool) {
	t, err := parseTemplate(src)
	if err != nil {
		p.errorf(n, path, "template: %s", templateMessage(err))
		return nil, false
	}
	if t.t == nil {
		return t, true
	}
	ok := true
	for _, id := range templateStepRefs(t.t.Tree.Root) {
		if !ids[id] {
			p.errorf(n, path, "template: .Steps.%s: no earlier step has id %q", id, id)
			ok = false
		}
	}
	return t, ok
}

// expression compiles an expression and checks that every `steps.X` it names
// is an earlier step (ids nil: no steps may be named). Errors point into the
// expression where the scalar's style allows.
func (p *parser) expression(n *yaml.Node, path, src string, ids map[string]bool) (prog *vm.Program) {
	prog, err := compileExpr(src)
	if err != nil {
		var fe *file.Error
		pos := p.pos(n)
		msg := err.Error()
		if errors.As(err, &fe) {
			msg = fe.Message
			if fe.Line <= 1 && (n.Style == 0 || n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle) {
				off := 0
				if n.Style != 0 {
					off = 1
				}
				pos.Col += off + fe.Column
			}
		}
		p.errs = append(p.errs, Error{Pos: pos, Path: path, Msg: "expression: " + msg})
		return nil
	}
	node := prog.Node()
	ast.Walk(&node, stepRefs(func(id string) {
		if !ids[id] {
			if ids == nil {
				p.errorf(n, path, "steps.%s: match conditions run before any step", id)
			} else {
				p.errorf(n, path, "steps.%s: no earlier step has id %q", id, id)
			}
		}
	}))
	return prog
}

// stepRefs is an expr AST visitor that reports every `steps.<id>`.
type stepRefs func(id string)

func (f stepRefs) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	if ident, ok := m.Node.(*ast.IdentifierNode); ok && ident.Value == "steps" {
		if prop, ok := m.Property.(*ast.StringNode); ok {
			f(prop.Value)
		}
	}
}

// templateStepRefs returns the step ids a template names as .Steps.<id>,
// $.Steps.<id> or (index .Steps "<id>"), each once, in order. Inside with
// and range the dot is no longer the template's data, so a .Steps there is
// not one.
func templateStepRefs(root *parse.ListNode) []string {
	var ids []string
	add := func(id string) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	isSteps := func(n parse.Node, top bool) bool {
		switch n := n.(type) {
		case *parse.FieldNode:
			return top && slices.Equal(n.Ident, []string{"Steps"})
		case *parse.VariableNode:
			return slices.Equal(n.Ident, []string{"$", "Steps"})
		}
		return false
	}
	var walk func(n parse.Node, top bool)
	branch := func(b *parse.BranchNode, top, dotMoves bool) {
		walk(b.Pipe, top)
		walk(b.List, top && !dotMoves)
		walk(b.ElseList, top)
	}
	walk = func(n parse.Node, top bool) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c, top)
				}
			}
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c, top)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe, top)
		case *parse.TemplateNode:
			walk(n.Pipe, top)
		case *parse.CommandNode:
			if len(n.Args) >= 3 {
				fn, isIdent := n.Args[0].(*parse.IdentifierNode)
				id, isString := n.Args[2].(*parse.StringNode)
				if isIdent && fn.Ident == "index" && isString && isSteps(n.Args[1], top) {
					add(id.Text)
				}
			}
			for _, a := range n.Args {
				walk(a, top)
			}
		case *parse.ChainNode:
			walk(n.Node, top)
		case *parse.FieldNode:
			if top && len(n.Ident) > 1 && n.Ident[0] == "Steps" {
				add(n.Ident[1])
			}
		case *parse.VariableNode:
			if len(n.Ident) > 2 && n.Ident[0] == "$" && n.Ident[1] == "Steps" {
				add(n.Ident[2])
			}
		case *parse.IfNode:
			branch(&n.BranchNode, top, false)
		case *parse.RangeNode:
			branch(&n.BranchNode, top, true)
		case *parse.WithNode:
			branch(&n.BranchNode, top, true)
		}
	}
	walk(root, true)
	return ids
}

var (
	templatePrefix = regexp.MustCompile(`^template: with:\d+(:\d+)?: `)
	templateExec   = regexp.MustCompile(`^executing "with" at (<[^>]*>): (.*)$`)
)

// templateMessage turns text/template's error into a message without its
// internal template name: "can't evaluate field X in type Y (at <.A.X>)".
func templateMessage(err error) string {
	msg := templatePrefix.ReplaceAllString(err.Error(), "")
	if m := templateExec.FindStringSubmatch(msg); m != nil {
		return m[2] + " (at " + m[1] + ")"
	}
	return msg
}
