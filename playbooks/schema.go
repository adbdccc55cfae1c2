package playbooks

import "sort"

// SchemaID names the JSON Schema of playbooks.
const SchemaID = "https://firebreak.dev/schemas/playbook-v1.json"

// Schema returns a JSON Schema (draft 2020-12) of the playbook format for
// the actions of cat: editors use it for completion and to flag unknown keys
// (`firebreak playbook schema > firebreak-playbook.schema.json`, then
// `# yaml-language-server: $schema=./firebreak-playbook.schema.json` at the
// top of a playbook). Each step's `with` is checked against its action's
// fields. It mirrors Parse; Parse stays the authority (expressions and
// templates are only checked there).
func Schema(cat *Catalog) map[string]any {
	names := make([]string, 0, len(cat.Actions))
	for n := range cat.Actions {
		names = append(names, n)
	}
	sort.Strings(names)
	strList := func(enum []string, desc string) map[string]any {
		items := map[string]any{"type": "string"}
		if len(enum) > 0 {
			items["enum"] = enum
		}
		return map[string]any{"type": "array", "items": items, "description": desc}
	}
	duration := map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "description": `a duration such as "30s", "1m", "4h"`}
	expression := map[string]any{"type": []string{"string", "boolean"}, "description": "an expr expression over exposure, steps.<id>.outputs/.outcome, incident, owner"}
	defs := map[string]any{}
	var conds []any
	for _, n := range names {
		spec := cat.Actions[n]
		props := map[string]any{}
		var required []string
		for _, f := range spec.Fields {
			var p map[string]any
			switch f.Type {
			case TypeBool:
				p = map[string]any{"type": "boolean"}
			case TypeInt:
				p = map[string]any{"type": "integer"}
			case TypeDuration:
				p = map[string]any{"type": "string", "pattern": duration["pattern"]}
			case TypeList:
				p = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
			case TypeMap:
				p = map[string]any{"type": "object", "additionalProperties": map[string]any{"type": []string{"string", "number", "boolean"}}}
			default:
				p = map[string]any{"type": "string"}
				if len(f.Enum) > 0 {
					p["enum"] = f.Enum
				}
			}
			if f.Description != "" {
				p["description"] = f.Description
			}
			if f.Default != nil {
				if d, ok := f.Default.(interface{ String() string }); ok && f.Type == TypeDuration {
					p["default"] = d.String()
				} else {
					p["default"] = f.Default
				}
			}
			props[f.Name] = p
			if f.Required {
				required = append(required, f.Name)
			}
		}
		w := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
		if len(required) > 0 {
			w["required"] = required
		}
		defs["with_"+n] = w
		then := map[string]any{"properties": map[string]any{"with": map[string]any{"$ref": "#/$defs/with_" + n}}}
		if len(required) > 0 {
			then["required"] = []string{"with"}
		}
		conds = append(conds, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"uses": map[string]any{"const": n}}, "required": []string{"uses"}},
			"then": then,
		})
	}
	usesDesc := map[string]any{"type": "string", "enum": names, "description": "the action this step runs"}
	stepProps := func() map[string]any {
		return map[string]any{
			"id":      map[string]any{"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
			"name":    map[string]any{"type": "string"},
			"uses":    usesDesc,
			"with":    map[string]any{"type": "object"},
			"if":      expression,
			"when":    map[string]any{"type": []string{"string", "boolean"}, "description": "approval steps: when approval is required (an alias of if)"},
			"timeout": duration,
			"retry": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"attempts": map[string]any{"type": "integer", "minimum": 1, "maximum": MaxAttempts},
				"backoff":  map[string]any{"enum": []string{"constant", "exponential"}},
				"initial":  duration, "max": duration,
			}},
		}
	}
	defs["step"] = map[string]any{"type": "object", "additionalProperties": false, "required": []string{"id", "uses"},
		"properties": stepProps(), "allOf": conds}
	defs["failure_step"] = map[string]any{"type": "object", "additionalProperties": false, "required": []string{"uses"},
		"properties": stepProps(), "allOf": conds}
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaID,
		"title":                "Firebreak playbook",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"apiVersion", "kind", "name", "steps"},
		"properties": map[string]any{
			"apiVersion":  map[string]any{"const": APIVersion},
			"kind":        map[string]any{"const": Kind},
			"name":        map[string]any{"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
			"description": map[string]any{"type": "string"},
			"match": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"providers":    strList(cat.Providers, "provider names; empty matches any"),
				"sources":      strList(cat.Sources, "source kinds; empty matches any"),
				"environments": strList(environments, "environments; empty matches any"),
				"secret_types": strList(nil, "GitHub secret_type slugs"),
				"when":         expression,
			}},
			"steps":      map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"$ref": "#/$defs/step"}},
			"on_failure": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/failure_step"}},
		},
		"$defs": defs,
	}
}
