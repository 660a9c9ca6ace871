# Two commands for a workshop:  make run  (set up, prepare the data, run the four experiments)
#                                make test (set up with the test tools, run the tests)
# For a Spark cluster:           make spark-env (pack the environment its workers run: docs/cluster.md)
# TensorFlow's start-up log is hidden; SHOW_TF_LOG=1 make run shows it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench spark-env clean

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

# Rebuilt only when the requirements or the workshop package change (see workshop/spark_env.py).
dist/spark-env.tar.gz: requirements.txt $(wildcard workshop/*.py) $(VENV)/.created
	$(BIN)/python -m workshop.spark_env $@

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0] + ": set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created requirements.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt requirements-spark.txt
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $@

clean:
	rm -rf $(VENV) runs bench/_work dist
