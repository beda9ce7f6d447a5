# drillbook: make run opens the screen on the training target; make test runs
# every test (installing tmux, rabbitmq-server, chromium and openssh-server first when it can).
GO ?= go
BIN := bin/drillbook
FUZZTIME ?= 5s
TESTFLAGS ?=

.PHONY: build run test deps vet fuzz-smoke fuzz bench clean

build:
	$(GO) build -buildvcs=true -o $(BIN) ./cmd/drillbook

run: build
	./$(BIN)

deps:
	@./scripts/deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -timeout 20m $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=$(FUZZTIME)

# A short run of every fuzz target (make test); `make fuzz FUZZ=10m` for a long one.
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./runbook
	$(GO) test -run '^$$' -fuzz '^FuzzReadJournal$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./runbook
	$(GO) test -run '^$$' -fuzz '^FuzzReportRenders$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./runbook
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./adapters/logwatch

fuzz:
	@$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=$(or $(FUZZ),2m)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

clean:
	rm -rf bin
