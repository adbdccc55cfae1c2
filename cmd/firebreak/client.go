package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
)

// clientFlags are how the state commands (incidents, replay, audit, tokens)
// reach a running serve: its control API, with a bearer token. By default
// they use the local serve (http.listen of --config, else 127.0.0.1:8080) and
// the admin token file serve created in its data directory, so a newcomer
// needs no set-up. They never open the embedded store serve holds.
type clientFlags struct {
	url, tokenFile, config string
}

func (f *clientFlags) add(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.url, "url", "", "control API base URL (default: $FIREBREAK_URL, else http://<http.listen of --config>)")
	cmd.PersistentFlags().StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token (default: $FIREBREAK_TOKEN, else <data_dir>/admin-token)")
	cmd.PersistentFlags().StringVar(&f.config, "config", "", "serve's configuration file (for its address and data directory)")
}

type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

func (f *clientFlags) client() (*apiClient, error) {
	cfg, err := config.Load(f.config, nil)
	if err != nil {
		return nil, err
	}
	base := f.url
	if base == "" {
		base = os.Getenv("FIREBREAK_URL")
	}
	if base == "" {
		base = "http://" + cfg.HTTP.Listen
	}
	token := ""
	switch {
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	case os.Getenv("FIREBREAK_TOKEN") != "":
		token = strings.TrimSpace(os.Getenv("FIREBREAK_TOKEN"))
	default:
		p := filepath.Join(cfg.DataDir, "admin-token")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("no token: pass --token-file or set FIREBREAK_TOKEN (the local admin token %s is not readable: %v)", p, err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// apiError is an error answer of the control API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
}

// do sends a request (body marshalled as JSON when not nil) and decodes a
// JSON answer into out (when not nil).
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.raw(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// raw sends a request and returns a 2xx response (the caller closes it).
func (c *apiClient) raw(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is firebreak serve running at %s? %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &apiError{Status: resp.StatusCode, Msg: msg}
	}
	return resp, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func checkOutput(o string) error {
	if o != "table" && o != "text" && o != "json" {
		return fmt.Errorf("--output must be table (text) or json, got %q", o)
	}
	return nil
}
