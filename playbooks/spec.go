package playbooks

// FieldType is the type of a step parameter.
type FieldType string

// Field types.
const (
	TypeString   FieldType = "string"   // a template rendered to a string
	TypeBool     FieldType = "bool"     // a literal boolean
	TypeInt      FieldType = "int"      // a literal integer
	TypeDuration FieldType = "duration" // a literal duration ("30s")
	TypeList     FieldType = "list"     // a list of strings (each a template)
	TypeMap      FieldType = "map"      // a string-to-string map (values are templates)
)

// FieldSpec describes one `with` parameter of an action.
type FieldSpec struct {
	Name        string
	Type        FieldType
	Required    bool
	Default     any
	Description string
	Example     string
	// Enum, when set, lists the allowed values of a string field that is not
	// a template.
	Enum []string
}

// ActionSpec describes a step action: the `uses` name, its parameters, its
// outputs, and whether it changes anything outside Firebreak. Specs drive
// validation, `playbook lint`, and documentation.
type ActionSpec struct {
	Name        string
	Description string
	Fields      []FieldSpec
	Outputs     []string
	// SideEffect is true for actions that change state at a provider or
	// notify people (revoke, rotate, notify); dry-run never performs them.
	SideEffect bool
}

// Catalog is the set of actions playbooks may use, and the vocabularies match
// criteria are checked against. It is built explicitly by the caller (cmd
// wires the real actions; tests build their own).
type Catalog struct {
	Actions   map[string]ActionSpec
	Providers []string // known provider names; empty disables the check
	Sources   []string // known source kinds; empty disables the check
}

// NewCatalog builds a catalog from specs.
func NewCatalog(providers, sources []string, specs ...ActionSpec) *Catalog {
	c := &Catalog{Actions: map[string]ActionSpec{}, Providers: providers, Sources: sources}
	for _, s := range specs {
		c.Actions[s.Name] = s
	}
	return c
}

func (s ActionSpec) field(name string) (FieldSpec, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return FieldSpec{}, false
}
