package config

import "fmt"

// ProviderLimits returns providers.<name>.max_concurrency by provider name,
// for the providers that set one. The limit bounds how many HTTP requests
// this process has at that provider's API at once, whatever sends them
// (verify, revoke and the key listings it makes, owner lookups, key
// creation, partner feedback): a revocation storm queues inside Firebreak
// instead of tripping the provider's rate limit. It is per process: N
// instances have at most N × max_concurrency requests in flight.
func (c *Config) ProviderLimits() map[string]int {
	p := c.Providers
	all := map[string]int{
		"openai": p.OpenAI.MaxConcurrency, "github": p.GitHub.MaxConcurrency, "anthropic": p.Anthropic.MaxConcurrency,
		"aws": p.AWS.MaxConcurrency, "google": p.Google.MaxConcurrency, "slack": p.Slack.MaxConcurrency,
		"stripe": p.Stripe.MaxConcurrency, "huggingface": p.HuggingFace.MaxConcurrency, "groq": p.Groq.MaxConcurrency,
		"perplexity": p.Perplexity.MaxConcurrency, "xai": p.XAI.MaxConcurrency, "replicate": p.Replicate.MaxConcurrency,
	}
	out := map[string]int{}
	for name, n := range all {
		if n != 0 {
			out[name] = n
		}
	}
	return out
}

func (c *Config) validateLimits() Problems {
	var ps Problems
	for name, n := range c.ProviderLimits() {
		if n < 0 {
			ps = append(ps, Problem{Path: "providers." + name + ".max_concurrency",
				Msg: fmt.Sprintf("must be 0 (unbounded) or a positive number of concurrent calls, got %d", n)})
		}
	}
	return ps
}
