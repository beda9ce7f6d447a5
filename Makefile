# drillbook: make run opens the screen on the training target; make test runs
# every test (installing tmux, rabbitmq-server, chromium and openssh-server first when it can).
GO ?= go
BIN := bin/drillbook
FUZZTIME ?= 5s
TESTFLAGS ?=
# make install puts the binary, the man pages, the bash, zsh and fish
# completions and the JSON Schemas for editors under $(DESTDIR)$(PREFIX),
# where a user's system looks for them.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(DESTDIR)$(PREFIX)/bin
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
SHAREDIR := $(DESTDIR)$(PREFIX)/share
DISTDIR ?= dist

.PHONY: build run run-remote test deps vet cross fuzz-smoke fuzz bench crash clean install uninstall dist

build:
	$(GO) build -buildvcs=true -o $(BIN) ./cmd/drillbook

run: build
	./$(BIN)

# make run-remote opens drillbook on the training cell spread over four
# hosts behind a private sshd on a loopback port (docs/training.md).
run-remote: build
	@./scripts/run-remote.sh

deps:
	@./scripts/deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -timeout 20m $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=$(FUZZTIME)
	@$(MAKE) --no-print-directory cross

# Compile every release platform (make test), so a platform break is caught
# here, not at release; nothing is kept.
cross:
	@./scripts/dist.sh -check

# Release binaries for every platform, with SHA256SUMS, in $(DISTDIR).
dist:
	@./scripts/dist.sh $(DISTDIR)

install: build
	install -d $(BINDIR) $(MANDIR) $(SHAREDIR)/bash-completion/completions \
		$(SHAREDIR)/zsh/site-functions $(SHAREDIR)/fish/vendor_completions.d $(SHAREDIR)/drillbook/schema
	install -m 0755 $(BIN) $(BINDIR)/drillbook
	$(BIN) man --dir $(MANDIR) >/dev/null
	$(BIN) completion bash > $(SHAREDIR)/bash-completion/completions/drillbook
	$(BIN) completion zsh > $(SHAREDIR)/zsh/site-functions/_drillbook
	$(BIN) completion fish > $(SHAREDIR)/fish/vendor_completions.d/drillbook.fish
	install -m 0644 docs/schema/runbook.schema.json docs/schema/targets.schema.json $(SHAREDIR)/drillbook/schema/
	@echo "installed drillbook in $(BINDIR), its man pages in $(MANDIR) and its completions under $(SHAREDIR)"

uninstall:
	rm -f $(BINDIR)/drillbook $(MANDIR)/drillbook.1 $(MANDIR)/drillbook-*.1 \
		$(SHAREDIR)/bash-completion/completions/drillbook $(SHAREDIR)/zsh/site-functions/_drillbook \
		$(SHAREDIR)/fish/vendor_completions.d/drillbook.fish
	rm -rf $(SHAREDIR)/drillbook/schema

# A short run of every fuzz target (make test); `make fuzz FUZZ=10m` for a long one.
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./runbook
	$(GO) test -run '^$$' -fuzz '^FuzzReadJournal$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./runbook
	$(GO) test -run '^$$' -fuzz '^FuzzJournalBitFlips$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./runbook
	$(GO) test -run '^$$' -fuzz '^FuzzReportRenders$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./runbook
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./adapters/logwatch

fuzz:
	@$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=$(or $(FUZZ),2m)

# Kill every shipped runbook on the training target with SIGKILL at every
# journal point, resume it, and compare with an uninterrupted run (make test
# kills each at a few points). Hours with the RabbitMQ runbooks, which need a
# real node; CRASH_RUNBOOK=ID sweeps one runbook.
crash: deps
	DRILLBOOK_CRASH_SWEEP=all DRILLBOOK_CRASH_RUNBOOK=$(CRASH_RUNBOOK) $(GO) test -run '^TestCrashSweep$$' -v -timeout 600m ./cmd/drillbook

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

clean:
	rm -rf bin $(DISTDIR)
