# The two commands a newcomer needs:
#   go run ./cmd/firebreak demo     (or: make demo)
#   make test                       (the whole suite; .ci/run calls exactly this)
.PHONY: test demo serve bench build fuzz

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
