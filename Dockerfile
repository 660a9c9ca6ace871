# The workshop's image for Spark on Kubernetes: the driver and the executors run it (docs/cluster.md).
#   docker build -t REGISTRY/workshop:2026.11 .        (CPU; amd64: TensorFlow's Linux wheels)
#   docker push REGISTRY/workshop:2026.11
# Not built in this project's checks (they have no Docker): see docs/cluster.md before relying on it.
#
# Base: the Apache Spark project's own image (Docker Hub apache/spark; the Docker Official Image
# "spark" has the same tags; list: versions.json in github.com/apache/spark-docker): Ubuntu 22.04,
# Java 17, Spark in /opt/spark, user spark (uid 185), work dir /opt/spark/work-dir. Take the Spark
# version of the spark-submit that submits the jobs.
ARG SPARK_IMAGE=apache/spark:4.1.2-scala2.13-java17-python3-ubuntu
FROM ${SPARK_IMAGE}

# Its python3 is Ubuntu 22.04's 3.10; the workshop needs 3.11 or newer (TensorFlow 2.21 has wheels
# for 3.10-3.13). So uv (from PyPI) installs a standalone CPython 3.11 in /opt/python, and a venv
# in /opt/venv with the packages of the Spark workers' lock, requirements-spark-env.lock (those of
# requirements.txt, exact versions with their hashes, tensorflow-cpu: the CPU build, a third of the
# size). PySpark itself is the image's (/opt/spark/python). For GPU nodes build with
# --build-arg TENSORFLOW='tensorflow[and-cuda]': requirements.lock's packages (tensorflow), then
# TensorFlow's CUDA wheels, which no lock holds (the NVIDIA driver and device plugin on the nodes,
# and spark.executor.resource.gpu.* settings on the job, are not covered here).
ARG PYTHON_VERSION=3.11
ARG TENSORFLOW=tensorflow-cpu
ARG UV_VERSION=0.13.9
USER root
COPY requirements.lock requirements-spark-env.lock /opt/workshop/
RUN set -eux; \
    python3 -m pip install --no-cache-dir "uv==${UV_VERSION}"; \
    UV_PYTHON_INSTALL_DIR=/opt/python uv venv --no-cache --managed-python --python "${PYTHON_VERSION}" /opt/venv; \
    install="uv pip install --no-cache --compile-bytecode --python /opt/venv/bin/python"; \
    if [ "${TENSORFLOW}" = tensorflow-cpu ]; then \
        ${install} --require-hashes --no-deps -r /opt/workshop/requirements-spark-env.lock; \
    else \
        ${install} --require-hashes --no-deps -r /opt/workshop/requirements.lock; \
        ${install} "${TENSORFLOW}==$(sed -nE 's/^tensorflow==([^ ;]+).*/\1/p' /opt/workshop/requirements.lock)"; \
    fi; \
    python3 -m pip uninstall -y uv; \
    /opt/venv/bin/python -c "import sys, tensorflow as tf; assert sys.version_info >= (3, 11); print(tf.__version__)"

# The workshop: its package and the lessons, read-only (owned by root). A job names a lesson
# as local:///opt/workshop/spark_model_selection.py; its outputs (runs/, --results) go to the
# work dir /opt/spark/work-dir, which is the spark user's, unless the job points them elsewhere.
COPY workshop/ /opt/workshop/workshop/
COPY *.py /opt/workshop/

# PYSPARK_PYTHON: the Python that the driver and the executors run. The lessons see it set and ship
# no environment of their own (dist/spark-env.tar.gz is for clusters without this image).
ENV PATH=/opt/venv/bin:${PATH} \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYTHONPATH=/opt/workshop \
    MPLCONFIGDIR=/tmp/matplotlib

# As in the base image: the unprivileged user spark, by its uid (so that Kubernetes' runAsNonRoot can
# check it), and the base image's entrypoint (/opt/entrypoint.sh driver | executor).
USER 185
