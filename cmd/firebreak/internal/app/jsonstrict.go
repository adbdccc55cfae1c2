package app

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/firebreak-sec/firebreak/ingest/web"
)

// jsonUnmarshalStrict decodes one JSON document rejecting unknown fields.
func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(web.JSONError(err))
	}
	return nil
}
