# appserve: `make run` serves the example app, `make test` runs the suite.
# Both install what is missing first (the pinned deno and bun npm packages
# into ./node_modules, Debian's nginx-light and wrk); nothing global is assumed.

DENO := node_modules/.bin/deno
BUN := node_modules/.bin/bun
SOURCES := $(shell find src workers mod.ts -name '*.ts' 2>/dev/null) package.json

.PHONY: run test compile compile-deno bench ok install clean docs bundle fixtures

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: node_modules/.installed
	@sh scripts/install_system_deps.sh

# The Deno worker bundle (src/master/worker_bundle.ts): what Deno workers run, under either launcher.
DENO_BUNDLE := dist/deno/process_entry.js dist/deno/thread_entry.js dist/deno/appserve_shim.js

$(DENO_BUNDLE) &: node_modules/.installed $(SOURCES) deno.json
	$(DENO) run -A scripts/build_worker_bundle.ts

# Bun 1.4.4 (oven-sh/bun#38672): a binary built without .env autoload replaces process.env.NODE_ENV
# and BUN_ENV, in every file it transpiles at run time (the app, its node_modules, hooks), by their
# values at launch, "development" when unset. Defined as themselves read through globalThis, they
# stay live reads of the environment, as under `bun run`.
LIVE_ENV := --define process.env.NODE_ENV=globalThis.process.env.NODE_ENV \
  --define process.env.BUN_ENV=globalThis.process.env.BUN_ENV

# Bun runs the binary's own preload first, before BUN_OPTIONS' preloads: a master started with
# BUN_OPTIONS starts again without it (src/runtime/bun_preload.ts), so they run in workers only.
OWN_PRELOAD := --preload /$$bunfs/root/src/runtime/bun_preload.js

# The build a binary says in --version: the commit it was built from, "-dirty" with changes.
BUILD_ID := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git rev-parse HEAD >/dev/null 2>&1 && ! git diff --quiet HEAD -- 2>/dev/null && echo -dirty)

# The binary embeds the bundle as .txt files, which Bun's file loader keeps byte for byte.
dist/appserve: node_modules/.installed $(SOURCES) $(DENO_BUNDLE) Makefile
	@mkdir -p dist/embed
	for f in $(DENO_BUNDLE); do cp $$f dist/embed/$$(basename $$f).txt; done
	$(BUN) build --compile --compile-autoload-package-json --compile-autoload-tsconfig \
	  --no-compile-autoload-dotenv --no-compile-autoload-bunfig --minify-syntax --bytecode --format esm \
	  --loader .txt:file --asset-naming '[name].[ext]' --compile-exec-argv='$(OWN_PRELOAD) $(LIVE_ENV)' \
	  --define 'APPSERVE_BUILD="$(BUILD_ID)"' \
	  src/cli/main.ts workers/process_entry.ts workers/thread_entry.ts src/runtime/bun_preload.ts \
	  $(patsubst dist/deno/%,dist/embed/%.txt,$(DENO_BUNDLE)) --outfile dist/appserve

compile: dist/appserve

bundle: $(DENO_BUNDLE)

compile-deno: node_modules/.installed
	@sh scripts/compile_deno.sh

# The example is a Deno project (this repository's deno.json): its workers run on the pinned Deno.
run: dist/appserve
	DENO="$(CURDIR)/$(DENO)" ./dist/appserve -w 2 -b 127.0.0.1:8000 examples/hello_hono.ts

# The Deno fixture project's npm packages, fetched once before the tests (not in the middle of one);
# and appserve's own, in Deno's cache, for a project of the user's that runs it under its deno.json.
fixtures: node_modules/.installed
	$(DENO) install --quiet --config tests/fixtures/deno_project/deno.json \
	  --entrypoint tests/fixtures/deno_project/app.ts
	$(DENO) install --quiet --config tests/fixtures/deno_project/deno.json --no-lock \
	  --entrypoint src/cli/main.ts

test: install dist/appserve fixtures
	$(DENO) check --quiet src/ workers/ mod.ts scripts/ tests/
	$(DENO) run -A scripts/run_tests.ts

ok: install dist/appserve fixtures
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check src/ workers/ mod.ts scripts/ tests/
	$(DENO) run -A scripts/gen_settings_doc.ts --check
	$(DENO) run -A scripts/check_runtime_seam.ts
	$(DENO) run -A scripts/check_imports.ts
	$(DENO) run -A scripts/run_tests.ts

bench: install dist/appserve
	$(DENO) run -A scripts/bench/hello.ts
	$(DENO) run -A scripts/bench/logging.ts
	$(DENO) run -A scripts/bench/worker_classes.ts
	$(DENO) run -A scripts/bench/targets.ts
	$(DENO) run -A scripts/bench/websocket.ts
	$(DENO) run -A scripts/bench/memory.ts
	$(DENO) run -A scripts/bench/otel.ts
	# The watchdog's forensics and --metrics-bind, each on against off in this build (~1 min).
	$(DENO) run -A scripts/bench/forensics.ts --self --metrics --rounds 3 --duration 1

clean:
	rm -rf dist .tmp
