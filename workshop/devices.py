"""Where TensorFlow runs: GPU when present (or asked for), else CPU; seeds; number precision."""
import os
import platform
from dataclasses import dataclass

from workshop.errors import UserError


@dataclass(frozen=True)
class Device:
    name: str  # TensorFlow's device string, e.g. "/GPU:0"
    description: str  # for people: "GPU 0 (NVIDIA H100)" or "CPU (2 cores, ...)"
    compute_dtype: object  # tf.float32, or tf.bfloat16 / tf.float16 for mixed precision

    @property
    def kind(self):
        return "GPU" if "GPU" in self.name else "CPU"


def cpu_count():
    """Cores this process may use (respects affinity and container limits where visible)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def setup_device(device="auto", precision="float32", seed=0):
    """Picks the device and seeds every random generator. -> (name, description, compute dtype)

    On the CPU, ops are made deterministic, so two runs with the same seed print the same
    numbers. Mixed precision (bfloat16 or float16) computes in 16 bits while the weights
    stay float32: faster on GPUs and on CPUs with bfloat16 matrix units (AMX).
    """
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise UserError("--device gpu: TensorFlow sees no GPU here (install tensorflow[and-cuda] "
                        "and check nvidia-smi), or use --device cpu")
    tf.keras.utils.set_random_seed(seed)
    dtype = {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}[precision]
    if device == "cpu" or not gpus:
        if gpus:
            tf.config.set_visible_devices([], "GPU")
        tf.config.experimental.enable_op_determinism()
        return "/CPU:0", f"CPU ({cpu_count()} cores, {_cpu_model()})", dtype
    details = tf.config.experimental.get_device_details(gpus[0])
    return "/GPU:0", f"GPU 0 ({details.get('device_name', 'unknown')})", dtype


def start(device="auto", precision="float32", seed=0):
    """Sets up the device, seeds every generator, and says what runs where. -> Device"""
    import tensorflow as tf
    name, description, dtype = setup_device(device, precision, seed)
    print(f"TensorFlow {tf.__version__} on {description}")
    return Device(name, description, dtype)
