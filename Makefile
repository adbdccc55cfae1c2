# The two commands a newcomer needs:
#   go run ./cmd/firebreak demo     (or: make demo)
#   make test                       (the whole suite; .ci/run calls exactly this)
.PHONY: test demo serve bench build fuzz faults

test:
	./.ci/test.sh

demo:
	go run ./cmd/firebreak demo

serve:
	go run ./cmd/firebreak serve

build:
	CGO_ENABLED=0 go build -trimpath -o firebreak ./cmd/firebreak

bench:
	./.ci/bench.sh

fuzz:
	FUZZTIME=$${FUZZTIME:-1m} ./.ci/fuzz.sh

# The full fault soak (5,000 exposures, 24 kill -9s, 3 bus restarts, provider
# faults, replay of every delivery): see README "Fault tests".
faults:
	FIREBREAK_NATS_SERVER_BIN=$$(./.ci/nats-server.sh) FIREBREAK_SOAK=1 go test -count=1 -run 'TestFaultSoak' -v -timeout 2h ./cmd/firebreak/internal/faults
