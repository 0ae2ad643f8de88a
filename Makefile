# khub developer entry points. Two commands set everything up on a fresh machine:
#   make demo   - install, then load and explore the demo world on the embedded store
#   make test   - install, start a real Neo4j, run every test on both stores
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
KHUB    = $(VENV)/bin/khub
PYTEST_ARGS ?=

.PHONY: install system-deps demo test test-embedded lint bench bench-quick neo4j-up neo4j-down clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# unstructured's fast PDF path imports unstructured-inference, whose declared deps pull CUDA torch stacks we never use
	$(PY) -m pip install --quiet --no-deps unstructured-inference==1.6.14
	touch $@

install: $(VENV)/.installed

demo: install
	$(KHUB) demo

system-deps:
	@bash .ci/system-deps.sh

test: install system-deps
	graph/neo4j_server/with-neo4j.sh $(PY) -m pytest $(PYTEST_ARGS)

test-embedded: install
	KHUB_NO_NEO4J=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	graph/neo4j_server/with-neo4j.sh sh -c '$(PY) -m bench.store --store both --neo4j-uri "$$NEO4J_URI"'
	$(PY) -m bench.intent_latency

bench-quick: install
	graph/neo4j_server/with-neo4j.sh sh -c '$(PY) -m bench.store --store both --quick --neo4j-uri "$$NEO4J_URI"'
	$(PY) -m bench.intent_latency --nodes 5000 --events 40

neo4j-up:
	@graph/neo4j_server/neo4j-server.sh start

neo4j-down:
	@graph/neo4j_server/neo4j-server.sh stop

clean: neo4j-down
	rm -rf .khub $(VENV)
