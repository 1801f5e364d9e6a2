# Portico top-level Makefile (GNU make).
#
# Delegates to the Makefile that ./configure writes into the build directory
# (BUILDDIR, default objs), running ./configure with its defaults first when
# that directory has not been configured yet.
#
#   make                 build objs/portico
#   make run             build and run portico in the foreground (quickstart)
#   make check           everything CI runs: unit, integration, fuzz smoke,
#                        man page lint, then the sanitizer pass (check-asan)
#   make unit | integration | fuzz | man-lint | bench | bench-smoke
#   make bench-instructions  (instructions per proxied request, callgrind)
#   make check-valgrind  unit tests and a core subset of the integration
#                        tests under valgrind memcheck (several minutes)
#   make soak            1,000,000 proxied requests; fails if the workers'
#                        memory grows (SOAK_REQUESTS=N for fewer)
#   make install [DESTDIR=...]
#   make clean
#
# Variables: BUILDDIR (objs), ASAN_BUILDDIR (objs-asan), FUZZ_TIME (seconds
# per fuzz target, default 60; check uses CHECK_FUZZ_TIME, default 10),
# SKIP_ASAN=1 (check without the sanitizer pass), NO_DEPS=1 (do not call
# scripts/deps), JOBS (parallel compile jobs, default: number of CPUs),
# V=1 (show full compiler command lines), VALGRIND_TESTS (the integration
# test files check-valgrind runs), SOAK_REQUESTS (1000000).

BUILDDIR ?= objs
ASAN_BUILDDIR ?= objs-asan
CHECK_FUZZ_TIME ?= 10
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

PYTHON ?= /usr/bin/python3

# check-valgrind: memcheck errors and memory definitely lost at exit are
# errors (exit status 99 of a unit test; a failed integration test, as
# conftest.py reads valgrind's reports on the server's stderr).  Add e.g.
# --track-origins=yes to VALGRIND_FLAGS to see where uninitialised
# values come from.
VALGRIND_TESTS ?= test_http_basic.py test_proxy.py test_request_body.py
VALGRIND_FLAGS ?=
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    $(VALGRIND_FLAGS)

SOAK_REQUESTS ?= 1000000

ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# Compile in parallel unless the caller chose a -j of their own.
PAR = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS))
SUB = $(MAKE) --no-print-directory -f $(BUILDDIR)/Makefile
ASAN_SUB = $(MAKE) --no-print-directory -f $(ASAN_BUILDDIR)/Makefile
DEPS = $(if $(filter 1,$(NO_DEPS)),:,scripts/deps)
CONFIGURE_DEFAULT = ./configure $(if $(filter-out objs,$(BUILDDIR)),--builddir=$(BUILDDIR))
CONFIGURED = test -f $(BUILDDIR)/Makefile || $(CONFIGURE_DEFAULT)

# The targets here run one after another; the builds below them still use -j.
.NOTPARALLEL:
.SUFFIXES:
.DEFAULT_GOAL := all

.PHONY: all build run check check-main check-asan check-valgrind soak \
    unit integration fuzz man-lint bench bench-smoke bench-instructions \
    install clean \
    package-deb package-rpm help

all: $(BUILDDIR)/Makefile
	+@$(SUB) $(PAR) all

build: all

$(BUILDDIR)/Makefile:
	$(CONFIGURE_DEFAULT)

run:
	@$(DEPS) build
	+@$(MAKE) --no-print-directory all
	@test -f conf/quickstart.conf \
	    || { echo "run: conf/quickstart.conf not found"; exit 1; }
	exec $(BUILDDIR)/portico -p $(CURDIR)/ -c conf/quickstart.conf

unit integration:
	@$(DEPS) test
	@$(CONFIGURED)
	+@$(SUB) $(PAR) $@

fuzz:
	@$(DEPS) fuzz
	@$(CONFIGURED)
	+@$(SUB) $(PAR) fuzz $(if $(FUZZ_TIME),FUZZ_TIME=$(FUZZ_TIME))

man-lint:
	@set -u; pages=; \
	for p in man/portico.8 man/portico.conf.5; do \
	    [ -f $$p ] && pages="$$pages $$p"; \
	done; \
	if [ -z "$$pages" ]; then echo "man-lint: no man pages yet"; exit 0; fi; \
	command -v mandoc >/dev/null \
	    || { echo "man-lint: mandoc not found (scripts/deps test)"; exit 1; }; \
	out=$$(mandoc -T lint -W warning $$pages 2>&1); \
	if [ -n "$$out" ]; then \
	    echo "$$out"; echo "man-lint: FAILED:$$pages"; exit 1; \
	fi; \
	echo "man-lint: ok:$$pages"

# check: the gcc build and its tests, then the sanitizer pass.  Every stage
# of a pass runs even when an earlier one failed, and a summary ends it.
check: check-main check-asan
	@set -u; \
	tot() { awk -v col=$$2 '{s += $$col} END {print s + 0}' $$1 2>/dev/null || echo 0; }; \
	files="$(BUILDDIR)/check.counts"; \
	[ -f $(ASAN_BUILDDIR)/check.counts ] && [ "$(SKIP_ASAN)" != 1 ] \
	    && files="$$files $(ASAN_BUILDDIR)/check.counts"; \
	cat $$files >$(BUILDDIR)/check.total; \
	p=$$(tot $(BUILDDIR)/check.total 1); f=$$(tot $(BUILDDIR)/check.total 2); \
	s=$$(tot $(BUILDDIR)/check.total 3); \
	echo; echo "==== make check: all stages passed ===="; \
	cat $(BUILDDIR)/check.summary; \
	if [ "$(SKIP_ASAN)" != 1 ]; then cat $(ASAN_BUILDDIR)/check.summary; fi; \
	echo "check: $$p passed, $$f failed, $$s skipped"

# $(call run_stages,DIR,TITLE,STAGES,MAKE): runs each stage with MAKE (the
# build directory's Makefile) and records the results in DIR/check.summary
# and DIR/check.counts ("passed failed skipped" a line).
define run_stages
set -u; b=$(1); title="$(2)"; fail=0; \
	: >$$b/check.summary; : >$$b/check.counts; \
	for stage in $(3); do \
	    echo; echo "==== $$title: $$stage ===="; \
	    case $$stage in \
	    man-lint) $(MAKE) --no-print-directory man-lint ;; \
	    fuzz) $(4) fuzz FUZZ_TIME=$(CHECK_FUZZ_TIME) ;; \
	    *) $(4) $$stage ;; \
	    esac; \
	    rc=$$?; \
	    counts=; \
	    case $$stage in \
	    unit) [ -f $$b/test/unit.result ] && counts=$$(cat $$b/test/unit.result) ;; \
	    integration) [ -f $$b/integration.result ] && counts=$$(cat $$b/integration.result) ;; \
	    esac; \
	    [ -n "$$counts" ] && echo "$$counts" >>$$b/check.counts; \
	    if [ $$rc -eq 0 ]; then st=ok; else st=FAILED; fail=1; fi; \
	    [ -n "$$counts" ] && counts=$$(echo $$counts 0 0 0 \
	        | awk '$$1 + $$2 + $$3 == 0 {printf "no tests"; exit} \
	            {printf "%d passed, %d failed, %d skipped", $$1, $$2, $$3}'); \
	    printf '  %-10s %-12s %-7s %s\n' "$$title" $$stage $$st \
	        "$$counts" >>$$b/check.summary; \
	done; \
	echo; echo "==== $$title summary ===="; cat $$b/check.summary; \
	if [ $$fail -ne 0 ]; then \
	    awk '{p += $$1; f += $$2; s += $$3} \
	        END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' \
	        $$b/check.counts; \
	    echo "$$title: FAILED"; exit 1; \
	fi
endef

check-main:
	@$(DEPS) test
	@$(CONFIGURED)
	+@$(SUB) $(PAR) all || { echo "check: build FAILED"; exit 1; }
	+@$(call run_stages,$(BUILDDIR),$(BUILDDIR),unit integration fuzz man-lint,$(SUB) $(PAR))

# The sanitizer pass: a second build directory configured with the same
# options as BUILDDIR plus --with-sanitizers.
check-asan:
ifeq ($(SKIP_ASAN),1)
	@echo "check-asan: skipped (SKIP_ASAN=1)"
else
	@$(DEPS) test
	@$(CONFIGURED)
	@set -u; set --; \
	while IFS= read -r a; do \
	    case $$a in \
	    --builddir=* | --with-sanitizers) ;; \
	    *) set -- "$$@" "$$a" ;; \
	    esac; \
	done <$(BUILDDIR)/configure.args; \
	echo "./configure $${*:+$$* }--with-sanitizers --builddir=$(ASAN_BUILDDIR)"; \
	./configure "$$@" --with-sanitizers --builddir=$(ASAN_BUILDDIR) \
	    >$(BUILDDIR)/configure-asan.log 2>&1 \
	    || { cat $(BUILDDIR)/configure-asan.log; exit 1; }
	+@$(ASAN_SUB) $(PAR) all || { echo "check-asan: build FAILED"; exit 1; }
	+@$(call run_stages,$(ASAN_BUILDDIR),$(ASAN_BUILDDIR),unit integration,$(ASAN_ENV) $(ASAN_SUB) $(PAR))
endif

# check-valgrind: the unit tests and VALGRIND_TESTS with portico under
# valgrind (about 6 minutes on 2 cores for the default files).  Not part of
# check: too slow, and some timing tests are flaky at valgrind's speed.
check-valgrind:
	@$(DEPS) test
	@command -v valgrind >/dev/null \
	    || { echo "check-valgrind: valgrind not found (scripts/deps test)"; exit 1; }
	@$(CONFIGURED)
	+@$(SUB) $(PAR) all unit-build || { echo "check-valgrind: build FAILED"; exit 1; }
	@set -u; fail=0; \
	for t in $$(find $(BUILDDIR)/test -maxdepth 1 -type f -name 'test_*' \
	        ! -name '*.*' -perm -u+x | sort); do \
	    echo "check-valgrind: $$t"; \
	    $(VALGRIND) $$t >$$t.valgrind.log 2>&1 \
	        || { cat $$t.valgrind.log; echo "check-valgrind: FAILED: $$t"; fail=1; }; \
	done; \
	echo "check-valgrind: integration: $(VALGRIND_TESTS)"; \
	PORTICO_BIN=$(abspath $(BUILDDIR)/portico) PORTICO_WRAPPER="$(VALGRIND)" \
	    $(PYTHON) -m pytest -q -p no:cacheprovider \
	    $(addprefix test/integration/,$(VALGRIND_TESTS)) || fail=1; \
	if [ $$fail -ne 0 ]; then echo "check-valgrind: FAILED"; exit 1; fi; \
	echo "check-valgrind: ok"

# soak: SOAK_REQUESTS proxied requests with wrk when it is installed
# (scripts/deps bench) or else a Python client, the workers' RSS sampled
# every tenth; see test/integration/test_soak.py.  check runs the same test
# with 50,000 requests.
soak:
	@$(DEPS) test
	+@$(MAKE) --no-print-directory all
	PORTICO_BIN=$(abspath $(BUILDDIR)/portico) \
	    PORTICO_SOAK_REQUESTS=$(SOAK_REQUESTS) \
	    $(PYTHON) -m pytest -q -s -p no:cacheprovider \
	    test/integration/test_soak.py

# bench: Portico, nginx and HAProxy behind one origin under wrk (several
# minutes; BENCH_DURATION, BENCH_ROUNDS... in test/bench/run); bench-smoke:
# one short round that checks the harness itself.  Neither is part of check.
bench bench-smoke:
	@$(DEPS) bench
	+@$(MAKE) --no-print-directory all
	PORTICO_BIN=$(abspath $(BUILDDIR)/portico) \
	    BENCH_JSON=$${BENCH_JSON:-$(abspath $(BUILDDIR))/$@.json} \
	    /usr/bin/python3 test/bench/run $(if $(filter bench-smoke,$@),--smoke)

# bench-instructions: instructions one more small proxied request costs,
# counted by callgrind (repeatable on a busy machine), beside nginx and
# HAProxy, with Portico's most expensive functions.
bench-instructions:
	@$(DEPS) bench
	+@$(MAKE) --no-print-directory all
	PORTICO_BIN=$(abspath $(BUILDDIR)/portico) \
	    /usr/bin/python3 test/bench/instructions

install:
	@$(CONFIGURED)
	+@$(SUB) $(PAR) all
	+@$(SUB) install

clean:
	rm -rf objs objs-asan $(filter-out objs objs-asan,$(BUILDDIR) $(ASAN_BUILDDIR))

package-deb package-rpm:
	@echo "$@: not yet implemented"; exit 1

help:
	@sed -n '3,26s/^# \{0,1\}//p' Makefile
