# Two commands for a workshop:  make run  (set up, prepare the data, run the four experiments)
#                                make test (set up with the test tools, run the tests)
# For a Spark cluster:           make spark-env (pack the environment its workers run: docs/cluster.md)
# The lessons as notebooks:      make jupyter (JupyterLab on notebooks/); after editing a lesson: make notebooks
# After editing a range in requirements*.txt: make lock (the *.lock files, which the others install)
# TensorFlow's start-up log is hidden; SHOW_TF_LOG=1 make run shows it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The locks: exact versions with their hashes, every dependency listed, so pip installs them as they are
PIP_INSTALL_LOCK := $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r
# make lock: uv (installed into the venv) resolves the ranges once for Python 3.11+ on every platform
UV_VERSION := 0.13.9
UV_COMPILE := $(BIN)/python -m uv pip compile --quiet --upgrade --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"

.PHONY: run test bench spark-env notebooks jupyter lock clean

run: $(VENV)/.installed
	$(BIN)/python create_notmnist.py --synthetic-if-offline
	$(BIN)/python notmnist_classifier.py
	$(BIN)/python notmnist_classifier_CNN.py
	$(BIN)/python LSTM.py

# make test: the test tools and the environment that the cluster tests ship are set up at once, then
# the tests run in two processes, each taking whole test files (pytest-xdist)
test:
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed-test dist/spark-env.tar.gz
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(VENV)/.installed-test  # each benchmark in turn, then one table of their targets and figures
	$(BIN)/python bench/summary.py bench/bench_create_notmnist.py bench/bench_synthetic_build.py \
		bench/bench_classifiers.py bench/bench_lstm.py bench/bench_load_forecasting.py bench/bench_distributed.py

spark-env: dist/spark-env.tar.gz

notebooks: $(VENV)/.installed-test  # notebooks/ written from the lessons (workshop/notebooks.py)
	$(BIN)/python -m workshop.notebooks

jupyter: $(VENV)/.installed-jupyter
	$(BIN)/python -m jupyter lab notebooks/

# Rebuilt only when its lock or the workshop package change (see workshop/spark_env.py).
dist/spark-env.tar.gz: requirements-spark-env.lock $(wildcard workshop/*.py) $(VENV)/.created
	$(BIN)/python -m workshop.spark_env $@

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0] + ": set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created requirements.lock
	$(PIP_INSTALL_LOCK) requirements.lock
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(PIP_INSTALL_LOCK) requirements-test.lock
	touch $@

$(VENV)/.installed-jupyter: $(VENV)/.installed requirements-jupyter.lock
	$(PIP_INSTALL_LOCK) requirements-jupyter.lock
	touch $@

# The locks, newest versions within the ranges: the test set first (it holds the others' packages), then
# requirements.lock and the Spark workers' (tensorflow-cpu, Linux x86_64) held to the same versions.
lock: $(VENV)/.created
	$(BIN)/python -m uv --version >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV_COMPILE) -o requirements-test.lock requirements-test.txt
	$(UV_COMPILE) -c requirements-test.lock -o requirements.lock requirements.txt
	$(UV_COMPILE) -c requirements-test.lock -o requirements-jupyter.lock requirements-jupyter.txt
	mkdir -p dist
	$(BIN)/python -m workshop.spark_env --requirements > dist/requirements-spark-env.txt
	$(UV_COMPILE) -c requirements-test.lock -o requirements-spark-env.lock dist/requirements-spark-env.txt

clean:
	rm -rf $(VENV) runs bench/_work dist
