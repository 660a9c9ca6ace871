"""Imports TensorFlow without its start-up log.

Importing TensorFlow, and asking it for its devices, makes its native code write lines
such as "Could not find cuda drivers on your machine", "This TensorFlow binary is optimized
to use available CPU instructions" or "failed call to cuInit" straight to the process's
stderr: noise for a workshop attendee. A script imports this module before TensorFlow;
it does both with those known lines held back and passes on anything else.

To see TensorFlow's log as it is, set SHOW_TF_LOG (TF_CPP_MIN_LOG_LEVEL=0 adds its info lines):

    SHOW_TF_LOG=1 python notmnist_classifier.py
"""
import os
import re
import sys
import threading
from contextlib import contextmanager

START_UP_NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_dnn\.cc|cuda_fft\.cc|"
    r"cuda_blas\.cc|cpu_feature_guard\.cc|To enable the following instructions|oneDNN custom operations|"
    r"computation placer already registered|Unable to register cu|TF-TRT Warning")


@contextmanager
def native_stderr_filtered(noise=START_UP_NOISE):
    """Routes what anything in this process writes to file descriptor 2 through a pipe, and
    passes on every line that does not match `noise`."""
    sys.stderr.flush()
    real_stderr = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pass_on():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not noise.search(line.decode("utf-8", "replace")):
                    os.write(real_stderr, line)
    thread = threading.Thread(target=pass_on, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real_stderr, 2)  # closes the pipe's last write end: the thread sees its end
        thread.join()
        os.close(real_stderr)


if os.environ.get("SHOW_TF_LOG"):
    import tensorflow
else:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no info and warning lines, in workers too
    with native_stderr_filtered():
        import tensorflow
        tensorflow.config.list_physical_devices()  # the first query of the devices logs CUDA's absence
