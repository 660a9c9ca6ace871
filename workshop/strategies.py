"""Training on several devices or machines in step, with tf.distribute.

Synchronous data parallelism (the slides' "distributed computation of gradients"): every
replica holds the same weights, computes the gradients of its share of each global
minibatch, the gradients are summed over all replicas (all-reduce), and every replica
applies the same update — so the weights stay identical everywhere, and the result
matches training on one device with the same global batch.

    --strategy mirrored      MirroredStrategy: the GPUs of one machine (on a CPU-only
                             machine --replicas N splits the CPU into N logical devices)
    --strategy multiworker   MultiWorkerMirroredStrategy: one process per machine, told
                             its peers by the TF_CONFIG variable (workshop/launch.py starts
                             them when TF_CONFIG is not set)
"""
import hashlib
import json
import os

import numpy as np

from workshop.errors import UserError

DIGEST_LINE = "Weights digest:"  # each multiworker process ends by printing this


def make_strategy(kind, replicas, on_gpu):
    """The tf.distribute strategy for `kind` ("none", "mirrored", "multiworker"). Must run
    before TensorFlow creates its first tensor (it may configure logical devices)."""
    import tensorflow as tf
    if kind == "none":
        return tf.distribute.get_strategy()  # the default strategy: one device, no copies
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU") if on_gpu else []
        if replicas < 0 or (gpus and replicas > len(gpus)):
            raise UserError(f"--replicas {replicas}: choose 0 (every GPU) up to the {len(gpus)} GPUs here"
                            if gpus else f"--replicas {replicas}: choose 1 or more (0 means 2)")
        if gpus:
            names = [gpu.name for gpu in gpus][:replicas or None]
        else:  # one CPU split into logical devices, so the code path runs without GPUs
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * (replicas or 2))
            names = [f"/CPU:{i}" for i in range(replicas or 2)]
        return tf.distribute.MirroredStrategy(names, cross_device_ops=None if gpus else
                                              tf.distribute.ReductionToOneDevice())
    if "TF_CONFIG" not in os.environ:
        raise UserError("--strategy multiworker: TF_CONFIG is not set (start the script without it "
                        "to have it launch --workers local processes)")
    try:
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise UserError('TF_CONFIG is not valid: expected {"cluster": {"worker": ["host:port", ...]}, '
                        '"task": {"type": "worker", "index": N}}') from None
    print(f"Worker {index} of the cluster in TF_CONFIG, waiting for all workers", flush=True)
    return tf.distribute.MultiWorkerMirroredStrategy()


def describe(strategy):
    """'' for the default strategy, else e.g. ' × 2 replicas (MirroredStrategy)'."""
    import tensorflow as tf
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        workers = len(strategy.cluster_resolver.cluster_spec().as_dict().get("worker", []))
        return f" × {strategy.num_replicas_in_sync} replicas (MultiWorkerMirroredStrategy, {workers} workers)"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return f" × {strategy.num_replicas_in_sync} replicas (MirroredStrategy)"
    return ""


def is_chief(strategy):
    """Whether this process writes logs and checkpoints: always, except the workers of a
    MultiWorkerMirroredStrategy other than worker 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is None or not resolver.task_type or (resolver.task_type, resolver.task_id) in (
        ("chief", 0), ("worker", 0))


def weights_digest(variables):
    """A short fingerprint of the weights, equal on every worker when training is in sync."""
    digest = hashlib.sha256()
    for variable in variables:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()[:16]


def digest_line(strategy, variables):
    """For a multiworker process, the line its launcher compares; '' otherwise."""
    import tensorflow as tf
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return f"\n{DIGEST_LINE} {weights_digest(variables)}"
    return ""


def replicated_train_steps(strategy, model, loss_function, optimizer, variables, minibatch):
    """The classifiers' `train_steps(first, last)` on every replica of `strategy`: each
    replica takes its slice of the step's minibatch (workshop.training.Minibatches), and
    its loss is scaled so that the replicas' losses add up to the loss of the whole
    minibatch (the optimizer sums the gradients over the replicas). Variables and
    optimizer must come from strategy.scope(). Without a strategy, model selection uses it too.
    -> a compiled function returning the last step's (loss, logits, labels) over all replicas"""
    import tensorflow as tf
    replicas = strategy.num_replicas_in_sync
    if minibatch.batch_size % replicas:
        raise UserError(f"--batch-size {minibatch.batch_size} does not split evenly over {replicas} replicas")
    share = minibatch.batch_size // replicas
    if not optimizer.built:  # its slots (momentum) mirrored like the variables
        with strategy.scope():
            optimizer.build(variables)
    # Every replica keeps the data on its own device (one copy without a strategy).
    images, labels = (strategy.experimental_distribute_values_from_function(lambda _, data=data: tf.identity(data))
                      for data in (minibatch.images, minibatch.labels))

    def replica_step(batch, images, labels):
        replica = tf.distribute.get_replica_context()
        first = replica.replica_id_in_sync_group * share
        mine = batch[first:first + share]
        labels = tf.gather(labels, mine)
        with tf.GradientTape() as tape:
            logits = model(tf.gather(images, mine), training=True)
            loss = loss_function(logits, labels) / replicas
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))  # summed over replicas
        return loss, logits, labels

    @tf.function
    def steps(first, last, images, labels):  # data as arguments, not captured in the graph
        for step in tf.range(first, last):
            strategy.run(replica_step, args=(minibatch.indices(step), images, labels))
        loss, logits, batch_labels = strategy.run(replica_step, args=(minibatch.indices(last), images, labels))
        return (strategy.reduce("SUM", loss, axis=None), strategy.gather(logits, axis=0),
                strategy.gather(batch_labels, axis=0))
    return lambda first, last: steps(first, last, images, labels)
