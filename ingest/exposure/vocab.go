package exposure

import (
	"path"
	"strings"
)

// typeProviders maps GitHub secret-scanning secret_type slugs (and the ones
// Firebreak's detectors add) to the provider that issues them.
var typeProviders = map[string]string{
	"openai_api_key":                            "openai",
	"anthropic_api_key":                         "anthropic",
	"anthropic_admin_api_key":                   "anthropic",
	"github_personal_access_token":              "github",
	"github_oauth_access_token":                 "github",
	"github_app_installation_access_token":      "github",
	"github_refresh_token":                      "github",
	"github_user_to_server_token":               "github",
	"github_fine_grained_personal_access_token": "github",
	"aws_access_key_id":                         "aws",
	"aws_secret_access_key":                     "aws",
	"aws_temporary_access_key_id":               "aws",
	"google_api_key":                            "google",
	"google_cloud_api_key":                      "google",
	"slack_api_token":                           "slack",
	"slack_incoming_webhook_url":                "slack",
	"stripe_api_key":                            "stripe",
	"stripe_live_restricted_key":                "stripe",
	"stripe_test_secret_key":                    "stripe",
	"hf_user_access_token":                      "huggingface",
	"hf_org_api_token":                          "huggingface",
	"huggingface_access_token":                  "huggingface",
	"groq_api_key":                              "groq",
	"perplexity_api_key":                        "perplexity",
	"replicate_api_token":                       "replicate",
	"xai_api_key":                               "xai",
}

// ProviderForType returns the provider that issues a secret type, or
// "unknown". Prefix rules cover slugs not in the table ("openai_*" → openai).
func ProviderForType(secretType string) string {
	if p, ok := typeProviders[secretType]; ok {
		return p
	}
	for _, p := range []string{"openai", "anthropic", "github", "aws", "google", "slack", "stripe", "groq", "perplexity", "replicate", "xai"} {
		if strings.HasPrefix(secretType, p+"_") {
			return p
		}
	}
	if strings.HasPrefix(secretType, "hf_") || strings.HasPrefix(secretType, "huggingface_") {
		return "huggingface"
	}
	return "unknown"
}

// Environment guesses the environment from the hints an ingester has: labels
// (env, environment, namespace, stage), a branch, a file path, a ticket project.
// The first hint that names an environment wins; none gives EnvUnknown.
func Environment(labels map[string]string, branch, filePath, project string) string {
	for _, k := range []string{"env", "environment", "stage", "namespace", "tier"} {
		if e := normaliseEnv(labels[k]); e != EnvUnknown {
			return e
		}
	}
	switch branch {
	case "main", "master", "production", "release":
		return EnvProd
	}
	if e := normaliseEnv(branch); e != EnvUnknown {
		return e
	}
	dir := path.Dir(strings.ToLower(filePath))
	for _, part := range strings.FieldsFunc(dir, func(r rune) bool { return r == '/' || r == '.' || r == '_' }) {
		if e := normaliseEnv(part); e != EnvUnknown {
			return e
		}
	}
	return normaliseEnv(project)
}

func normaliseEnv(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return EnvUnknown
	case s == "prod" || s == "production" || s == "prd" || s == "live" || strings.HasPrefix(s, "prod-") || strings.HasSuffix(s, "-prod"):
		return EnvProd
	case s == "staging" || s == "stage" || s == "stg" || s == "preprod" || s == "uat" || strings.HasSuffix(s, "-staging"):
		return EnvStaging
	case s == "dev" || s == "development" || s == "test" || s == "testing" || s == "local" || s == "sandbox" || strings.HasSuffix(s, "-dev"):
		return EnvDev
	}
	return EnvUnknown
}
