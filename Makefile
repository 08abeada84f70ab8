# workflowd developer entry points; `make` alone lists them.
# The logic lives in scripts/; this file only names it.

PORT ?= 8080
PG_PORT ?= 54329
TEST_ARGS ?=
export PORT PG_PORT TEST_ARGS

# swift from PATH, else the toolchain in /opt/swift
SWIFT := $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)

.DEFAULT_GOAL := help
.PHONY: help build release deb run stop test clean

help:
	@echo "make build    debug build (.build/debug/workflowd)"
	@echo "make release  release build, Swift runtime linked in (.build/release/workflowd)"
	@echo "make deb      Debian package of the release build, checked by lintian (.build-deb/workflowd_*.deb)"
	@echo "make run      PostgreSQL + workflowd + nginx on http://127.0.0.1:$(PORT) (PORT=, PG_PORT=)"
	@echo "make stop     stop what make run started"
	@echo "make test     swift test against a throwaway PostgreSQL (TEST_ARGS='--filter Foo')"
	@echo "make clean    make stop, then delete .run and .build"
	@echo "make bench    release build behind nginx vs its ceilings; table in bench/results/latest.txt (BENCH_SECONDS=)"
	@echo "make bench-scale  get/list/transition/create/events/inbox at 10 k, 1 M, 10 M instances (BENCH_SCALE_SIZES=)"
	@echo "make soak     mixed load at 64 connections for SOAK_SECONDS (300), workflowd RSS every 10 s"

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --static-swift-stdlib

deb:
	deploy/deb.sh

run:
	scripts/run.sh start

stop:
	scripts/run.sh stop

test:
	scripts/test.sh

clean:
	scripts/run.sh clean

.PHONY: bench bench-scale soak
bench:
	bench/run.sh

bench-scale:
	bench/scale.sh

soak:
	bench/soak.sh
