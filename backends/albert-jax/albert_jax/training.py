"""`JaxTrainStep`: the trainer's optimizer step on JAX (optax's adamw or lamb, linear schedules and global-norm
clipping, one jitted gradient function and one jitted update); data-parallel over a `jax.sharding` mesh."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from albert_core.config import AlbertConfig
from albert_core.layout import hf_layout
from albert_core.model import forward, loss_terms
from albert_core.training.data_parallel import World, pad_rows
from albert_core.training.schedule import LinearSchedule
from albert_core.training.step import (
    MOMENT_KEYS,
    OptimizerOptions,
    StepResult,
    TrainStep,
    add_weighted,
    decays,
    moment_key,
)

from .model import OPS, AlbertJaxModel, global_put, host_value

_OPTAX_MOMENTS = {"exp_avg": "mu", "exp_avg_sq": "nu"}


def _adam_state(opt_state) -> optax.ScaleByAdamState:
    """Adam's moments and update count within the chain's state (the schedule keeps an equal count of its own)."""
    return next(node for node in jax.tree.leaves(opt_state, is_leaf=lambda n: isinstance(n, optax.ScaleByAdamState))
                if isinstance(node, optax.ScaleByAdamState))


def optax_schedule(s: LinearSchedule) -> optax.Schedule:
    """The core's linear warmup and decay as optax schedules (`count` = optimizer steps taken)."""
    return optax.join_schedules([optax.linear_schedule(0.0, s.peak, max(1, s.warmup_steps)),
                                 optax.linear_schedule(s.peak, 0.0, max(1, s.total_steps - s.warmup_steps))],
                                [s.warmup_steps])


class Programs:
    """The optax transformation and the jitted pieces of a step for one (config, task, options). Built once per
    process (`programs`) and shared by every step with the same three, so a second run (a resume, a test) does not
    compile again. A jitted gradient per micro-batch and a jitted update with the parameters and optimizer state
    donated (updated in place, not copied); not one program for both: XLA:CPU compiled that 1.6x slower (measured
    at 2x64 on albert-base, alternated: fused 3.98 s, split 2.43 s)."""

    def __init__(self, config: AlbertConfig, task: str, options: OptimizerOptions) -> None:
        self.config, self.task, self.options = config, task, options
        self.schedule = optax_schedule(options.schedule)
        mask = lambda p: {n: decays(n) for n in p}  # noqa: E731
        if options.optimizer == "lamb":  # optax.lamb's chain, the trust ratio masked as the decay is
            update = optax.chain(optax.scale_by_adam(options.adam_beta1, options.adam_beta2, options.adam_epsilon),
                                 optax.add_decayed_weights(options.weight_decay, mask),
                                 optax.masked(optax.scale_by_trust_ratio(), mask),
                                 optax.scale_by_learning_rate(self.schedule))
        else:
            update = optax.adamw(self.schedule, b1=options.adam_beta1, b2=options.adam_beta2,
                                 eps=options.adam_epsilon, weight_decay=options.weight_decay, mask=mask)
        clip = optax.clip_by_global_norm(options.max_grad_norm) if options.max_grad_norm else optax.identity()
        self.tx = optax.chain(clip, update)
        self.grad = jax.jit(jax.value_and_grad(self._loss, has_aux=True))
        self.update = jax.jit(self._apply, donate_argnums=(0, 1))
        self.scale = jax.jit(lambda g, w: jax.tree.map(lambda x: w * x, g))
        self.accumulate = jax.jit(lambda acc, g, w: jax.tree.map(lambda a, b: a + w * b, acc, g))

    def _loss(self, params, batch, rng):
        if self.options.bf16:  # bf16 copies for the compute; gradients flow back to the float32 masters
            params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)
        # The core reads HF's [out, in] layout; under jit, XLA folds each kernel's transpose into its matmul.
        out = forward(OPS, self.config, self.task, hf_layout(params, jnp.transpose), **batch, training=True, rng=rng,
                      gradient_checkpointing=self.options.gradient_checkpointing)
        return out["loss"], loss_terms(OPS, self.config, self.task, out, **batch)

    def _apply(self, params, opt_state, grads):
        norm = optax.tree.norm(grads)
        count = _adam_state(opt_state).count
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, norm, self.schedule(count)


@functools.lru_cache(maxsize=8)
def _programs(config_json: str, task: str, options: OptimizerOptions) -> Programs:
    return Programs(AlbertConfig.from_dict(json.loads(config_json)), task, options)


def programs(config: AlbertConfig, task: str, options: OptimizerOptions) -> Programs:
    return _programs(json.dumps(config.to_dict(), sort_keys=True), task, options)


class JaxTrainStep(TrainStep):
    """Replaces `model.params` after every update; see `albert_core.training.step` for the contract. With a mesh
    `world`, the parameters and optimizer state are replicated over a one-axis ("data") device mesh and each
    micro-batch is sharded along it: the same jitted programs, partitioned by XLA, which all-reduces the
    gradients."""

    def __init__(self, model: AlbertJaxModel, options: OptimizerOptions, world: World | None = None) -> None:
        super().__init__(model, options)
        self.world, self.rows = world or World(), None
        if self.world.mesh:  # every process's devices; each process passes the same host values in
            mesh = jax.make_mesh((self.world.replicas,), ("data",), axis_types=(AxisType.Auto,))  # XLA partitions
            self.rows = NamedSharding(mesh, PartitionSpec("data"))
            model.replicated = NamedSharding(mesh, PartitionSpec())
            model.params = global_put(model.params, model.replicated)
        self.programs = programs(model.config, model.task, options)
        self.opt_state = self._init_state()

    def _place(self, tree):
        """Host or device values where the parameters are: the model's device, or replicated over the mesh."""
        if self.model.replicated is not None:
            return global_put(tree, self.model.replicated)
        return jax.tree.map(lambda x: jax.device_put(jnp.array(x, copy=True), self.model.device), tree)

    def _init_state(self):
        # Committed to the model's device like the parameters: an uncommitted count (optax makes it with jnp.zeros)
        # would give the second step, whose state comes out of jit committed, a second compilation.
        return self._place(self.programs.tx.init(self.model.params))

    def _native(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        model = self.model
        if self.rows is None:
            return {k: model.to_native(k, v) for k, v in batch.items()}
        batch = pad_rows(batch, self.world.replicas, model.task)  # ignored rows up to a multiple of the devices
        return {k: global_put(model._host_cast(k, v), self.rows) for k, v in batch.items()}

    def step(self, micro_batches: Sequence[dict[str, np.ndarray]], weights: Sequence[float],
             dropout_seeds: Sequence[int]) -> StepResult:
        model, total, grads, metrics = self.model, 0.0, None, {}
        for batch, weight, seed in zip(micro_batches, weights, dropout_seeds):
            native = self._native(batch)
            (loss, terms), g = self.programs.grad(model.params, native, jax.random.key(seed))
            add_weighted(metrics, {k: host_value(v) for k, v in terms.items()}, weight)
            if grads is None:
                grads = g if weight == 1.0 else self.programs.scale(g, weight)
            else:
                grads = self.programs.accumulate(grads, g, weight)
            total += weight * float(host_value(loss))
        model.params, self.opt_state, norm, learning_rate = self.programs.update(model.params, self.opt_state, grads)
        return StepResult(total, float(host_value(norm)), float(host_value(learning_rate)), metrics)

    def evaluate(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: host_value(v) for k, v in self.model(**batch).items() if not isinstance(v, tuple)}

    @property
    def steps_taken(self) -> int:
        return int(host_value(_adam_state(self.opt_state).count))

    def optimizer_state(self) -> dict[str, np.ndarray]:
        out = {}
        for moment in MOMENT_KEYS:
            values = getattr(_adam_state(self.opt_state), _OPTAX_MOMENTS[moment])
            for name, value in hf_layout({n: host_value(v).astype(np.float32) for n, v in values.items()},
                                         np.transpose).items():
                out[moment_key(moment, name)] = np.ascontiguousarray(value)
        return out

    def load_optimizer_state(self, steps_taken: int, state: dict[str, np.ndarray]) -> None:
        params = self.model.params
        hf_names = hf_layout({name: name for name in params}, lambda name: name)  # HF name -> our name
        moments = {}
        for moment in MOMENT_KEYS:
            values = {}
            for hf_name, name in hf_names.items():  # kernels are held [in, out]; the file holds HF's [out, in]
                host = np.asarray(state[moment_key(moment, hf_name)], np.float32)
                values[name] = host.T if name != hf_name else host
            moments[_OPTAX_MOMENTS[moment]] = values
        count = np.asarray(steps_taken, np.int32)
        state = optax.tree_utils.tree_set(self._init_state(), count=count, **moments)
        # tree_set puts the one `count` array in both counts (Adam's and the schedule's); the update donates its
        # state, and one buffer cannot be donated twice: every leaf gets its own, on the model's device.
        self.opt_state = self._place(state)
