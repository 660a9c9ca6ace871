"""notMNIST on several devices or machines in step: the distributed computation of gradients.

After Arimo (2016): one model, trained by many workers at once. Every replica holds the same
weights. Each step, each replica takes its slice of the global minibatch and computes the
loss and its gradients; the gradients are summed over all replicas (all-reduce), and every
replica applies the same update. So the weights stay the same everywhere, and training
matches one device with the same global batch. The network is notmnist_classifier.py's MLP.

    python notmnist_distributed.py                                          # every GPU, or 2 logical CPUs
    python notmnist_distributed.py --strategy multiworker --workers 2       # 2 processes on 127.0.0.1
    python notmnist_distributed.py --launcher spark --workers 2             # the workers as Spark tasks
    python notmnist_distributed.py --launcher spark --spark-master spark://HOST:7077   # on a cluster

On a CPU-only machine the replicas share the same cores, so they are not faster: the lesson
is the code path, which is the same on 8 GPUs or 8 machines.
"""
import json
import os
import sys
import tempfile
from typing import Literal

import workshop.quiet_tensorflow  # noqa: F401 (before TensorFlow: keeps its start-up log quiet)
import tensorflow as tf
from notmnist_classifier import loss_function, network, network_variables
from workshop import cli
from workshop.devices import start
from workshop.errors import UserError
from workshop.experiment import Run
from workshop.notmnist import LETTERS, load_notmnist
from workshop.spark import barrier_job, spark_session
from workshop.training import Minibatches, accuracy, one_hot, report_steps, sgd
from workshop.workers import (DIGEST_LINE, Worker, check_same_weights, free_port, pack_folder, receive_folder, wait_all,
                             weights_digest)

DATA = "data/notMNIST.pickle"  # written by create_notmnist.py
HIDDEN_UNITS = 1024  # units in each of the MLP's two hidden layers
BATCH_SIZE = 128  # the global minibatch: each of N replicas computes the gradients of BATCH_SIZE / N images
STEPS = 3001  # SGD steps, each taken by all replicas together
LEARNING_RATE = 0.05  # initial step size
MOMENTUM = 0.9  # SGD momentum
DECAY_RATE = 0.5  # the learning rate is multiplied by this every DECAY_STEPS steps
DECAY_STEPS = 2000  # see DECAY_RATE
DROPOUT = 0.3  # fraction of hidden units dropped while training (each replica draws its own)
L2 = 5e-4  # weight of the L2 penalty on all weights and biases
EVAL_EVERY = 500  # steps between progress reports
SEED = 133  # fixes initialisation, shuffling and dropout

# --- System settings: how many replicas, and where ------------------------------------------
STRATEGY: Literal["mirrored", "multiworker"] = "mirrored"  # the devices of one machine, or several processes
REPLICAS = 0  # mirrored: devices to use; 0 means every GPU, or 2 logical CPUs without a GPU
WORKERS = 2  # multiworker without TF_CONFIG: worker processes to start
LAUNCHER: Literal["local", "spark"] = "local"  # workers here, or as a Spark barrier stage (spark implies multiworker)
SPARK_MASTER: str | None = None  # --launcher spark: master URL (none: spark-submit's, else local[*])
SLOTS_WAIT = 120  # --launcher spark: seconds to wait for a free task slot per worker, then fail
RUNS_DIR = "runs"  # the chief's logs, checkpoint and figures go to RUNS_DIR/notmnist_distributed/<time>/


def main():
    if multiworker() and "TF_CONFIG" not in os.environ:
        return launch_workers()  # this process only starts the workers, each with its TF_CONFIG
    device = start("auto", "float32", SEED)
    strategy, chief = choose_strategy()
    replicas = strategy.num_replicas_in_sync
    print(f"{'MultiWorker' if multiworker() else ''}MirroredStrategy: {replicas} replicas in sync")
    if BATCH_SIZE % replicas:
        raise UserError(f"--batch-size {BATCH_SIZE} does not split evenly over {replicas} replicas")
    share = BATCH_SIZE // replicas  # each replica's slice of the global minibatch

    data = load_notmnist(DATA)
    print(f"Data {DATA}: {data.describe()}")
    (train_images, train_labels), (valid_images, valid_labels), (test_images, test_labels) = (
        (images.reshape(-1, 28 * 28), one_hot(labels)) for images, labels in (data.train, data.valid, data.test))
    minibatch = Minibatches(train_images, train_labels, BATCH_SIZE, True, SEED, device.name)
    # Every replica keeps its own copy of the training set, on its own device.
    images, labels = (strategy.experimental_distribute_values_from_function(lambda _, d=d: tf.identity(d))
                      for d in (minibatch.images, minibatch.labels))

    # Graph: in strategy.scope(), each variable (and the optimizer's momentum) is mirrored: one copy per replica.
    with strategy.scope():
        variables = network_variables(2, HIDDEN_UNITS, 0.0)
        learning_rate, optimizer = sgd(LEARNING_RATE, DECAY_STEPS, DECAY_RATE, MOMENTUM)
        optimizer.build(variables)

    def replica_step(batch, images, labels):
        """One SGD step on one replica: the gradients of its slice of the global minibatch `batch`."""
        first = tf.distribute.get_replica_context().replica_id_in_sync_group * share
        mine = batch[first:first + share]
        labels = tf.gather(labels, mine)
        with tf.GradientTape() as tape:
            logits = network(variables, tf.gather(images, mine), True, DROPOUT)
            loss = loss_function(variables, logits, labels, L2) / replicas  # the replicas' losses add up
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))  # all-reduce: summed gradients
        return loss, logits, labels

    @tf.function
    def train_steps(first, last):
        """Steps first..last on every replica in one call of a compiled graph."""
        for step in tf.range(first, last):
            strategy.run(replica_step, args=(minibatch.indices(step), images, labels))
        loss, logits, batch_labels = strategy.run(replica_step, args=(minibatch.indices(last), images, labels))
        return (strategy.reduce("SUM", loss, axis=None),  # the loss of the whole minibatch
                strategy.gather(logits, axis=0), strategy.gather(batch_labels, axis=0))

    # Training: the 2016 progress lines; only the chief writes the run folder.
    predict = tf.function(lambda images: tf.nn.softmax(network(variables, images, False, DROPOUT)))
    run = Run(__file__, cli.settings(globals()), RUNS_DIR, None, device, variables, optimizer, chief)
    for first, last in report_steps(0, STEPS, EVAL_EVERY):
        loss, logits, batch_labels = run.timed(train_steps, first, last)
        accuracies = accuracy(logits, batch_labels), accuracy(predict(valid_images), valid_labels)
        print(f"Minibatch loss at step {last}: {loss:f}")
        print("Minibatch accuracy: %.1f%%\nValidation accuracy: %.1f%%" % accuracies, flush=True)
        run.record(last, loss, *accuracies, learning_rate(last))
    test_predictions = predict(test_images).numpy()
    print(f"Test accuracy: {accuracy(test_predictions, test_labels):.1f}%")
    run.finish(test_predictions, test_labels, LETTERS, BATCH_SIZE)
    if multiworker():  # the launcher checks that every worker ends with the same weights
        print(f"{DIGEST_LINE} {weights_digest(variables)}")


def multiworker():
    """Several worker processes: --strategy multiworker, or the workers started as Spark tasks."""
    return STRATEGY == "multiworker" or LAUNCHER == "spark"


def choose_strategy():
    """MirroredStrategy over this machine's GPUs (or its CPU split into logical devices), or
    MultiWorkerMirroredStrategy over the workers in TF_CONFIG. Runs before TensorFlow starts.
    -> (strategy, whether this process is the chief, which writes the run folder)"""
    if multiworker():
        try:  # {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}
            cluster = json.loads(os.environ["TF_CONFIG"])
            index, count = cluster["task"]["index"], len(cluster["cluster"]["worker"])
        except (ValueError, KeyError, TypeError):
            raise UserError('TF_CONFIG is not valid: expected {"cluster": {"worker": ["host:port", ...]}, '
                            '"task": {"type": "worker", "index": N}}') from None
        print(f"Worker {index} of {count} in TF_CONFIG, waiting for all workers", flush=True)
        return tf.distribute.MultiWorkerMirroredStrategy(), index == 0
    gpus = tf.config.list_physical_devices("GPU")
    if REPLICAS < 0 or (gpus and REPLICAS > len(gpus)):
        raise UserError(f"--replicas {REPLICAS}: choose 0 (every GPU) up to the {len(gpus)} GPUs here"
                        if gpus else f"--replicas {REPLICAS}: choose 1 or more (0 means 2)")
    if gpus:
        return tf.distribute.MirroredStrategy([f"/GPU:{i}" for i in range(REPLICAS or len(gpus))]), True
    count = REPLICAS or 2  # without a GPU: the CPU as logical devices, so the same code path runs
    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * count)
    return tf.distribute.MirroredStrategy([f"/CPU:{i}" for i in range(count)],
                                          cross_device_ops=tf.distribute.ReductionToOneDevice()), True


def tf_config(addresses, index):
    """What MultiWorkerMirroredStrategy reads: every worker's address, and which one this is."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def launch_workers():
    """Starts WORKERS copies of this script (same settings), each told the cluster by its TF_CONFIG,
    shows the chief's output, and checks that all of them ended with the same weights."""
    if WORKERS < 1:
        raise UserError(f"--workers {WORKERS}: need at least 1")
    flags = cli.as_flags(globals())
    if LAUNCHER == "local":  # processes on this machine, on free ports
        addresses = [f"127.0.0.1:{free_port()}" for _ in range(WORKERS)]
        print(f"Starting {WORKERS} workers on {', '.join(addresses)}; showing worker 0 (the chief)", flush=True)
        command = worker_command(os.path.abspath(__file__), flags, DATA, RUNS_DIR)
        workers = [Worker(command, tf_config(addresses, index), index, echo=index == 0) for index in range(WORKERS)]
        wait_all(workers)
        outputs = [worker.lines for worker in workers]
    else:  # one worker per task of a Spark barrier stage: all tasks start together, or none
        if not os.path.isfile(DATA):
            raise UserError(f"{DATA} not found: run `python create_notmnist.py` first (or pass --data PATH)")
        sc = spark_session(SPARK_MASTER, "notMNIST multiworker training", barrier_wait=SLOTS_WAIT).sparkContext
        print(f"Starting {WORKERS} workers as a Spark barrier stage on {sc.master}", flush=True)
        record = os.path.splitext(DATA)[0] + ".json"  # where the data came from (create_notmnist.py's record)
        for file in [__file__, DATA] + ([record] if os.path.isfile(record) else []):  # each task gets its copies
            sc.addFile(os.path.abspath(file))
        script, data = os.path.basename(__file__), os.path.basename(DATA)
        stage = sc.parallelize(range(WORKERS), WORKERS).barrier()
        with barrier_job(sc, WORKERS, SLOTS_WAIT, "the Spark barrier stage"):
            results = sorted(stage.mapPartitions(lambda _: barrier_task(script, flags, data, RUNS_DIR)).collect())
        outputs = [lines for _, lines, _ in results]
        print("".join(outputs[0]), end="")  # the chief's output
        receive_folder(results[0][2], RUNS_DIR)
    check_same_weights(outputs)


def worker_command(script, flags, data, runs_dir):
    """One worker: this script with the same settings (the later --data and --runs-dir win)."""
    return [sys.executable, script, *flags, "--data", data, "--runs-dir", runs_dir]


def barrier_task(script, flags, data, runs_dir):
    """One Spark barrier task: agree with the other tasks on the workers' addresses, then run one
    worker in a fresh process (TensorFlow's state must not linger in Spark's reused Python worker),
    from the files Spark shipped, in a folder of its own. -> (index, its output, the chief's run folder
    packed, to be unpacked into the driver's `runs_dir`)"""
    from pyspark import BarrierTaskContext, SparkFiles
    context = BarrierTaskContext.get()
    index = context.partitionId()
    host = context.getTaskInfos()[index].address.rsplit(":", 1)[0]
    addresses = context.allGather(f"{host}:{free_port(host)}")  # every task's address, in task order
    shipped = os.path.abspath(SparkFiles.getRootDirectory())  # this task's copies of what the driver sent
    with tempfile.TemporaryDirectory(prefix=f"worker{index}-", dir=shipped) as folder:
        runs = os.path.join(folder, "runs")
        command = worker_command(os.path.join(shipped, script), flags, os.path.join(shipped, data), runs)
        code = os.pathsep.join(os.path.abspath(path) for path in sys.path if path)  # with the code_zip Spark shipped
        env = {**os.environ, "PYTHONPATH": code}
        worker = Worker(command, tf_config(addresses, index), index, folder=folder, env=env)
        wait_all([worker])  # a failure fails the stage: Spark then stops the other tasks and their workers
        lines = [line.replace(runs, runs_dir) for line in worker.lines]  # the paths the driver will have
        yield index, lines, pack_folder(runs) if index == 0 else b""


if __name__ == "__main__":
    cli.run(main, globals())
