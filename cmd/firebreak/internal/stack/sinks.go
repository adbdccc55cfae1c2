package stack

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// IngestToken is the log sinks' token: the file serve generates in its data
// dir when ingest.tokens is not configured.
func (s *Stack) IngestToken() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.opts.DataDir, "ingest-token"))
	return strings.TrimSpace(string(b)), err
}

// Post sends body to one of Firebreak's routes with the given headers (pairs
// of name, value) and returns the status and the answer.
func (s *Stack) Post(ctx context.Context, path string, body []byte, headers ...string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.clients.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
