"""`TFTrainStep`: the trainer's optimizer step on TensorFlow (torch's AdamW, or optax's LAMB, as a native TF update
on the model's `tf.Variable`s; the gradient and the update each one `tf.function`); data-parallel under a
`tf.distribute` strategy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from albert_core.layout import hf_layout
from albert_core.model import forward, loss_terms
from albert_core.training.data_parallel import World, split
from albert_core.training.step import OptimizerOptions, StepResult, TrainStep, add_weighted, decays, moment_key

from .model import AlbertTFModel


class AdamW(tf.Module):
    """`torch.optim.AdamW`'s update in TensorFlow ops, with the moments as `tf.Variable`s beside each parameter
    (or, with `options.optimizer == "lamb"`, `optax.lamb`'s update on the same moments).

    Keras's AdamW is not used because it adds epsilon before the second-moment bias correction (Kingma and Ba's
    "epsilon hat"): in its first steps that is epsilon / sqrt(1 - beta2^t), up to 32x torch's and optax's, and
    on small gradients it moved a tiny model's weights 3e-4 (relative) away from theirs within 5 steps."""

    def __init__(self, variables: list[tf.Variable], decayed: list[bool], options: OptimizerOptions) -> None:
        super().__init__(name="adamw")
        self.options, self.decayed = options, decayed
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps")
        self.exp_avg = [tf.Variable(tf.zeros_like(v), trainable=False, name="exp_avg") for v in variables]
        self.exp_avg_sq = [tf.Variable(tf.zeros_like(v), trainable=False, name="exp_avg_sq") for v in variables]

    def learning_rate(self, step: tf.Tensor) -> tf.Tensor:
        """The core's linear warmup and decay at optimizer step `step` (0-based)."""
        s, t = self.options.schedule, tf.cast(step, tf.float32)
        warm = t / max(1, s.warmup_steps)
        decay = tf.maximum(0.0, (s.total_steps - t) / max(1, s.total_steps - s.warmup_steps))
        return s.peak * tf.where(t < s.warmup_steps, warm, decay)

    def apply(self, grads: list[tf.Tensor], variables: list[tf.Variable]) -> tf.Tensor:
        o = self.options
        lr = self.learning_rate(self.steps)
        self.steps.assign_add(1)
        t = tf.cast(self.steps, tf.float32)
        correction1, correction2 = 1.0 - o.adam_beta1 ** t, 1.0 - o.adam_beta2 ** t
        for g, v, m, m2, decayed in zip(grads, variables, self.exp_avg, self.exp_avg_sq, self.decayed):
            m.assign(o.adam_beta1 * m + (1.0 - o.adam_beta1) * g)
            m2.assign(o.adam_beta2 * m2 + (1.0 - o.adam_beta2) * g * g)
            if o.optimizer == "lamb":  # decay inside the update, then the trust ratio (both only where decayed)
                update = (m / correction1) / (tf.sqrt(m2 / correction2) + o.adam_epsilon)
                if not decayed:
                    v.assign_sub(lr * update)
                    continue
                update += o.weight_decay * v
                p_norm, u_norm = tf.norm(v), tf.norm(update)
                trust = tf.where((p_norm > 0.0) & (u_norm > 0.0), p_norm / u_norm, 1.0)
                v.assign_sub(lr * trust * update)
                continue
            if decayed and o.weight_decay:
                v.assign(v * (1.0 - lr * o.weight_decay))
            v.assign_sub((lr / correction1) * m / (tf.sqrt(m2) / tf.sqrt(correction2) + o.adam_epsilon))
        return lr


class TFTrainStep(TrainStep):
    """Updates the model's variables in place; see `albert_core.training.step` for the contract. Under a strategy
    (`world.handle`: MirroredStrategy, MultiWorkerMirroredStrategy) the variables and moments are mirrored, each
    replica computes its piece of every micro-batch (`albert_core.training.data_parallel`), the weighted
    gradients are summed across the replicas, and the update runs once, on every copy."""

    def __init__(self, model: AlbertTFModel, options: OptimizerOptions, world: World | None = None) -> None:
        super().__init__(model, options)
        self.world = world or World()
        self.strategy = self.world.handle
        self.names = list(model.params)
        if self.strategy is not None:  # the model's variables again, mirrored: created in the strategy's scope
            with self.strategy.scope():
                model.params = {n: tf.Variable(v, trainable=True, name=n) for n, v in model.params.items()}
        self.variables = [model.params[n] for n in self.names]
        with self.strategy.scope() if self.strategy is not None else tf.device(model.device):
            self.optimizer = AdamW(self.variables, [decays(n) for n in self.names], options)
        self._grad = tf.function(self._loss_and_grads)
        self._summed_grad = tf.function(self._sum_over_replicas)  # the replicas' passes in one graph
        self._update = tf.function(self._apply)

    def _loss_and_grads(self, batch: dict[str, tf.Tensor], seed: tf.Tensor):
        model = self.model
        with tf.GradientTape() as tape:
            params = dict(zip(self.names, self.variables))
            if self.options.bf16:  # bf16 copies for the compute; gradients flow back to the float32 masters
                params = {n: tf.cast(v, tf.bfloat16) for n, v in params.items()}
            out = forward(model.ops, model.config, model.task, hf_layout(params, tf.transpose), **batch,
                          training=True, rng=seed, gradient_checkpointing=self.options.gradient_checkpointing)
        grads = tape.gradient(out["loss"], self.variables)
        return out["loss"], [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                             for g, v in zip(grads, self.variables)], loss_terms(model.ops, model.config, model.task,
                                                                                 out, **batch)

    def _apply(self, grads: list[tf.Tensor]):
        norm = tf.linalg.global_norm(grads)
        if self.options.max_grad_norm:
            grads, _ = tf.clip_by_global_norm(grads, self.options.max_grad_norm, use_norm=norm)
        return norm, self.optimizer.apply(grads, self.variables)

    def _replicated_grad(self, micro_batches, weights, dropout_seeds):
        """(loss, gradients, loss terms) of each micro-batch, each the weighted sum over the replicas' pieces, with
        a weight of 1: the replicas' pieces already carry their share of the micro-batch's weight."""
        pieces = split(micro_batches, weights, self.strategy.num_replicas_in_sync, self.model.task)
        for i, seed in enumerate(dropout_seeds):
            def piece(context: tf.distribute.DistributedValues, i: int = i) -> tuple:
                batches, shares = pieces[context.replica_id_in_sync_group]
                return {k: tf.constant(v) for k, v in batches[i].items()}, tf.constant(shares[i], tf.float32)

            batch, share = self.strategy.experimental_distribute_values_from_function(piece)
            yield self._summed_grad(batch, share, tf.constant(seed, tf.int64)), 1.0

    def _sum_over_replicas(self, batch, share, seed):
        out = self.strategy.run(self._weighted_grad, args=(batch, share, seed))
        return tf.nest.map_structure(lambda v: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None), out)

    def _weighted_grad(self, batch, share, seed):
        loss, grads, terms = self._loss_and_grads(batch, seed)
        return share * loss, [share * g for g in grads], {k: share * tf.cast(v, tf.float32) for k, v in terms.items()}

    def step(self, micro_batches: Sequence[dict[str, np.ndarray]], weights: Sequence[float],
             dropout_seeds: Sequence[int]) -> StepResult:
        total, grads, metrics = 0.0, None, {}
        if self.strategy is not None:
            runs = self._replicated_grad(micro_batches, weights, dropout_seeds)
        else:
            runs = ((self._grad({k: tf.constant(v) for k, v in b.items()}, tf.constant(s, tf.int64)), w)
                    for b, w, s in zip(micro_batches, weights, dropout_seeds))
        with self.strategy.scope() if self.strategy is not None else tf.device(self.model.device):
            for (loss, g, terms), weight in runs:
                add_weighted(metrics, terms, weight)
                grads = [weight * x for x in g] if grads is None else [a + weight * x for a, x in zip(grads, g)]
                total += weight * float(loss)
            norm, learning_rate = self._update(grads)
        return StepResult(total, float(norm), float(learning_rate), metrics)

    @property
    def steps_taken(self) -> int:
        return int(self.optimizer.steps.numpy())

    def _moments(self) -> dict[str, list[tf.Variable]]:
        return {"exp_avg": self.optimizer.exp_avg, "exp_avg_sq": self.optimizer.exp_avg_sq}

    def optimizer_state(self) -> dict[str, np.ndarray]:
        out = {}
        for moment, slots in self._moments().items():
            values = hf_layout({n: s.numpy() for n, s in zip(self.names, slots)}, np.transpose)
            out.update({moment_key(moment, n): np.ascontiguousarray(v, np.float32) for n, v in values.items()})
        return out

    def load_optimizer_state(self, steps_taken: int, state: dict[str, np.ndarray]) -> None:
        hf_names = hf_layout({name: name for name in self.names}, lambda name: name)  # HF name -> our name
        index = {name: i for i, name in enumerate(self.names)}
        for moment, slots in self._moments().items():
            for hf_name, name in hf_names.items():  # kernels are held [in, out]; the file holds HF's [out, in]
                host = np.asarray(state[moment_key(moment, hf_name)], np.float32)
                slots[index[name]].assign(host.T if name != hf_name else host)
        self.optimizer.steps.assign(steps_taken)

