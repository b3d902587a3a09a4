# The two set-up commands (see README.md): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# mailman3, dokuwiki (+ php), redmine: the services the playbooks provision, run privately
# by the tests and the demo; mailman3-web (HyperKitty, Postorius) under uwsgi, with its LDAP
# login and Mailman's archiver for it. python3-venv only where this Python cannot make a venv;
# npm (axe-core for the browser tests' accessibility checks) only where no npm is installed.
DEBIAN_PACKAGES := slapd ldap-utils chromium postgresql mailman3 dokuwiki php-cli php-ldap redmine redmine-sqlite ruby-webrick \
	mailman3-web python3-django-auth-ldap python3-mailman-hyperkitty uwsgi-core uwsgi-plugin-python3 \
	$(shell $(PYTHON) -c 'import ensurepip' 2>/dev/null || echo python3-venv) \
	$(shell command -v npm >/dev/null || echo npm)

.PHONY: demo test lint test-deploy deploy-tools install debian-packages bench bench-tools translations-extract translations-update translations-compile

# e.g. make demo DEMO_ARGS="--port 5001 --folder /tmp/demo"; see README.md, "The demo"
DEMO_ARGS ?=
demo: install
	$(BIN)/provisioner demo $(DEMO_ARGS)

test: install
	$(BIN)/pytest

# ruff over every Python file of the project (pyproject.toml's [tool.ruff]), then
# mypy --strict over provisioner/ (pyproject.toml's [tool.mypy]).
lint: install
	$(BIN)/ruff check provisioner playbooks bench tests app.py
	$(BIN)/mypy

install: debian-packages $(VENV)/.installed node_modules/.package-lock.json translations-compile

# site.yml over ssh into booted Debian roots (debootstrap, systemd-nspawn): an earlier release
# upgraded by this checkout, a fresh install restoring a backup, a volunteer from registration
# to every service; ansible-lint. Needs root.
test-deploy: install deploy-tools
	$(BIN)/pytest tests/deploy

deploy-tools: $(VENV)/.deploy-tools
	@scripts/install-debian-packages debootstrap systemd-container openssh-client

$(VENV)/.deploy-tools: $(VENV)/.installed
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,demo,deploy]'
	@touch $@

debian-packages:
	@scripts/install-debian-packages $(DEBIAN_PACKAGES)
	@scripts/prepare-redmine

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,demo]'
	@touch $@

# axe-core, pinned by package.json and package-lock.json, for tests/browser/accessibility.py.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --silent

# Translations (docs/translations.md): extract the English texts into messages.pot, merge them
# into each language's messages.po, compile each into the messages.mo the portal reads (when
# its .po is newer, written whole: see scripts/compile-translations).
CATALOGUES := provisioner/translations
translations-extract: $(VENV)/.installed
	$(BIN)/pybabel extract --mapping-file babel.cfg --keywords _l --keywords Text \
		--no-wrap --sort-by-file --project occupy-provisioner --output-file $(CATALOGUES)/messages.pot .

translations-update: translations-extract
	$(BIN)/pybabel update --no-wrap --input-file $(CATALOGUES)/messages.pot --output-dir $(CATALOGUES)

translations-compile: $(VENV)/.installed
	@$(BIN)/python scripts/compile-translations $(CATALOGUES)

# e.g. make bench BENCH_ARGS="--only directory,portal --quick"; see bench/README.md
BENCH_ARGS ?=
bench: install bench-tools
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# What make bench needs beyond make install: Redmine as deployed, on PostgreSQL (Debian's
# redmine-pgsql) under puma (Debian's puma, added to Redmine's bundle).
bench-tools: debian-packages
	@scripts/install-debian-packages puma redmine-pgsql
	@scripts/prepare-redmine puma
