"""Dynamic sparse training callbacks: SET, RigL and preferential regrowth.

All of them act on the masked layers' ``weight_mask`` buffers (so checkpoints carry the masks);
the numerics are in :mod:`pl_powerlaw.dynamic`:

* :class:`~pl_powerlaw.callbacks.gradual_pruning.GradualMagnitudePruning` (Zhu & Gupta 2017) is
  in its own module;
* :class:`PruneAndRegrow`: start from random (Erdos-Renyi) masks at a density per layer (ERK or
  uniform), and every ``every_n_epochs`` epochs (or ``every_n_steps`` steps) drop a fraction of
  each layer's connections and grow as many, new weights at 0 with zero optimizer state;
  :class:`SET` (Mocanu et al. 2018), :class:`RigL` (Evci et al. 2020) and
  :class:`PreferentialRegrowth` (``P(i, j) ~ (k_i k_j)^beta``) are its presets.

RigL's dense gradient costs no extra pass: at an update step the masks are opened (all ones)
for that step's forward and backward, which changes nothing in the forward since the free weights
are exactly 0, so the backward gives the gradient of every entry; it is kept, the gradient is
masked again before the optimizer step, and the update is made after it. Under DDP that gradient
is the all-reduced one, so every rank grows the same entries; the random draws come from the
callback's own generator, seeded alike on every rank; magnitudes are the same on every rank.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from pl_powerlaw.callbacks.dynamic_common import SparseTrainingBase
from pl_powerlaw.callbacks.glue import net_of, say
from pl_powerlaw.connectivity import trace_graph
from pl_powerlaw.dynamic import (
    check_beta,
    check_count,
    check_preferential_layer,
    check_unit,
    cosine_update_fraction,
    epsilon_densities,
    layer_densities,
)
from pl_powerlaw.dynamic.step import DROPS, GROWS, install_random_masks, prune_and_regrow
from pl_powerlaw.errors import InputError
from pl_powerlaw.pruning import resolve_layers

DECAYS = ("constant", "cosine")


class PruneAndRegrow(SparseTrainingBase):
    """Dynamic sparse training: random sparse masks, then drop and grow on a schedule.

    Args:
        density: overall kept share of the sparsified layers, in (0, 1] (0.1: 90% sparsity).
        distribution: per-layer densities, ``"erk"`` or ``"uniform"`` (see
            :func:`pl_powerlaw.dynamic.layer_densities`).
        epsilon: SET's ``epsilon`` instead of ``density`` (``eps (n_in + n_out) / (n_in n_out)``).
        drop: ``"magnitude"`` or ``"signed"`` (SET's smallest positive and largest negative).
        grow: ``"random"`` (SET), ``"gradient"`` (RigL) or ``"preferential"``.
        update_fraction: ``zeta`` (SET) or RigL's ``alpha``, in (0, 1].
        decay: ``"constant"`` or ``"cosine"`` (RigL's ``alpha / 2 (1 + cos(pi t / T_end))``).
        every_n_epochs: update at the start of every N-th epoch (epoch N, 2N, ...).
        every_n_steps: update every N steps instead (step N, 2N, ...).
        stop_fraction: no update after this share of the training steps (``T_end``), in (0, 1].
        beta: the exponent of preferential growth, >= 0 (0: uniform, SET's regrowth).
        layers, include_output, seed, test_accuracy: see :class:`SparseTrainingBase`.
    """

    summary_name = "dynamic_sparse.json"

    def __init__(
        self,
        density: float | None = 0.1,
        distribution: str = "erk",
        epsilon: float | None = None,
        drop: str = "magnitude",
        grow: str = "random",
        update_fraction: float = 0.3,
        decay: str = "constant",
        every_n_epochs: int | None = 1,
        every_n_steps: int | None = None,
        stop_fraction: float = 1.0,
        beta: float = 1.0,
        layers: list[str] | None = None,
        include_output: bool = False,
        seed: int = 0,
        test_accuracy: bool = True,
    ) -> None:
        super().__init__(layers, include_output, seed, test_accuracy)
        if (density is None) == (epsilon is None):
            raise InputError(
                f"Expected one of `density` or `epsilon` but got density={density!r}, "
                f"epsilon={epsilon!r}"
            )
        self.density = None if density is None else check_unit(density, "density", low_open=True)
        if epsilon is not None:
            epsilon_densities({}, epsilon)  # checks epsilon > 0
        self.epsilon = epsilon
        for name, value, valid in (
            ("distribution", distribution, ("erk", "uniform")),
            ("drop", drop, DROPS),
            ("grow", grow, GROWS),
            ("decay", decay, DECAYS),
        ):
            if value not in valid:
                raise InputError(f"Expected `{name}` in {valid} but got {value!r}")
        self.distribution, self.drop, self.grow, self.decay = distribution, drop, grow, decay
        self.update_fraction = check_unit(update_fraction, "update_fraction", low_open=True)
        if (every_n_epochs is None) == (every_n_steps is None):
            raise InputError(
                f"Expected one of `every_n_epochs` or `every_n_steps` but got {every_n_epochs!r} "
                f"and {every_n_steps!r}"
            )
        self.every_n_epochs = (
            None if every_n_epochs is None else check_count(every_n_epochs, "every_n_epochs")
        )
        self.every_n_steps = (
            None if every_n_steps is None else check_count(every_n_steps, "every_n_steps")
        )
        self.stop_fraction = check_unit(stop_fraction, "stop_fraction", low_open=True)
        self.beta = check_beta(beta)
        self.initialized = False
        self.densities: dict[str, float] = {}
        self._names: list[str] = []
        self._stop_step = 0
        self._graph = None
        self._pending: dict[str, torch.Tensor] | None = None  # masks of a gradient step
        self._gradients: dict[str, torch.Tensor] = {}

    @property
    def state_key(self) -> str:
        return self._generate_state_key(grow=self.grow, drop=self.drop)

    def _settings(self) -> dict[str, Any]:
        return {
            "density": self.density,
            "epsilon": self.epsilon,
            "distribution": self.distribution,
            "drop": self.drop,
            "grow": self.grow,
            "update_fraction": self.update_fraction,
            "decay": self.decay,
            "every_n_epochs": self.every_n_epochs,
            "every_n_steps": self.every_n_steps,
            "stop_fraction": self.stop_fraction,
            "beta": self.beta,
            "densities": self.densities,
        }

    # -- setup ---------------------------------------------------------------------------------
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Draw the random starting masks (a resumed run then loads its own over them)."""
        if stage != "fit":
            return
        net = self._net(pl_module)
        self._names = self._layer_names(net)
        layers = resolve_layers(net, self._names)
        shapes = {name: tuple(layer.weight.shape) for name, layer in layers.items()}
        if self.epsilon is not None:
            self.densities = epsilon_densities(shapes, self.epsilon)
        else:
            self.densities = layer_densities(shapes, self.density, self.distribution)
        if self.grow == "preferential":
            self._graph = trace_graph(net)
            for name in self._names:
                check_preferential_layer(self._graph, name, shapes[name])
        if self.grow == "gradient" and trainer.accumulate_grad_batches != 1:
            raise InputError(
                f"Expected `accumulate_grad_batches` 1 with gradient growth but got "
                f"{trainer.accumulate_grad_batches}"
            )
        if not self.initialized:
            kept = install_random_masks(net, self.densities, self.generator)
            self.initialized = True
            self.history.append({"step": 0, "epoch": 0, "event": "init", "kept": kept})

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stop_step = int(self.stop_fraction * self._total_steps(trainer))

    # -- when ----------------------------------------------------------------------------------
    def _is_update(self, trainer: Trainer, batch_idx: int) -> bool:
        step = trainer.global_step
        if step >= self._stop_step or any(h.get("step") == step for h in self.history[1:]):
            return False
        if self.every_n_steps is not None:
            return step > 0 and step % self.every_n_steps == 0
        epoch = trainer.current_epoch
        return batch_idx == 0 and epoch > 0 and epoch % self.every_n_epochs == 0

    def fraction(self, step: int) -> float:
        """The drop fraction of the update at ``step``."""
        if self.decay == "cosine":
            return cosine_update_fraction(step, self.update_fraction, max(self._stop_step, 1))
        return self.update_fraction

    @override
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if not self._is_update(trainer, batch_idx):
            return
        if self.grow != "gradient":
            self._update(trainer, pl_module)
            return
        # open the masks for this step: the free weights are 0, the forward is the same
        layers = resolve_layers(net_of(pl_module), self._names)
        self._pending = {name: layer.weight_mask.clone() for name, layer in layers.items()}
        for layer in layers.values():
            layer.weight_mask.fill_(1)

    @override
    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if self._pending is None or self._gradients:
            return
        layers = resolve_layers(net_of(pl_module), self._names)
        for name, layer in layers.items():
            grad = layer.weight.grad
            self._gradients[name] = (
                torch.zeros_like(layer.weight) if grad is None else grad.detach().clone()
            )
            layer.weight_mask.copy_(self._pending[name])
            if grad is not None:
                grad.mul_(self._pending[name])

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._pending is None:
            return
        if not self._gradients:  # no optimizer step happened: close the masks again
            for name, layer in resolve_layers(net_of(pl_module), self._names).items():
                layer.weight_mask.copy_(self._pending[name])
            self._pending = None
            return
        self._update(trainer, pl_module, step=trainer.global_step - 1)
        self._pending, self._gradients = None, {}

    def _update(
        self, trainer: Trainer, pl_module: LightningModule, step: int | None = None
    ) -> None:
        step = trainer.global_step if step is None else step
        fraction = self.fraction(step)
        update = prune_and_regrow(
            net_of(pl_module),
            self._names,
            fraction,
            self.drop,
            self.grow,
            self.generator,
            gradients=self._gradients or None,
            graph=self._graph,
            beta=self.beta,
            optimizers=trainer.optimizers,
        )
        counts = update.counts()
        self.history.append(
            {"step": step, "epoch": trainer.current_epoch, "fraction": fraction, "layers": counts}
        )
        moved = sum(c["grown"] for c in counts.values())
        say(
            trainer,
            f"{type(self).__name__}: step {step}, drop fraction {fraction:.3f}, {moved} moved",
        )

    # -- checkpoint state ----------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "initialized": self.initialized}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.initialized = bool(state_dict.get("initialized", False))


def _preset(
    cls_name: str,
    doc: str,
    drop: str,
    grow: str,
    decay: str,
    every_n_epochs: int | None,
    every_n_steps: int | None,
    stop_fraction: float,
) -> type[PruneAndRegrow]:
    """A :class:`PruneAndRegrow` subclass whose signature holds its own defaults.

    The signature is spelled out (not ``**kwargs``) because LightningCLI reads the defaults from
    it: a preset's defaults must be what ``--print_config`` shows and what a config gets.
    """

    def __init__(
        self,
        density: float | None = 0.1,
        distribution: str = "erk",
        epsilon: float | None = None,
        drop: str = drop,
        grow: str = grow,
        update_fraction: float = 0.3,
        decay: str = decay,
        every_n_epochs: int | None = every_n_epochs,
        every_n_steps: int | None = every_n_steps,
        stop_fraction: float = stop_fraction,
        beta: float = 1.0,
        layers: list[str] | None = None,
        include_output: bool = False,
        seed: int = 0,
        test_accuracy: bool = True,
    ) -> None:
        PruneAndRegrow.__init__(
            self,
            density=density,
            distribution=distribution,
            epsilon=epsilon,
            drop=drop,
            grow=grow,
            update_fraction=update_fraction,
            decay=decay,
            every_n_epochs=every_n_epochs,
            every_n_steps=every_n_steps,
            stop_fraction=stop_fraction,
            beta=beta,
            layers=layers,
            include_output=include_output,
            seed=seed,
            test_accuracy=test_accuracy,
        )

    __init__.__doc__ = PruneAndRegrow.__init__.__doc__
    return type(
        cls_name, (PruneAndRegrow,), {"__init__": __init__, "__doc__": doc, "__module__": __name__}
    )


SET = _preset(
    "SET",
    """Sparse Evolutionary Training (Mocanu et al. 2018): signed drop, random regrowth, every epoch.

    Arguments as :class:`PruneAndRegrow`, with ``drop="signed"``, ``grow="random"``.

    Example (YAML)::

        pruning:
          class_path: pl_powerlaw.callbacks.SET
          init_args: {density: 0.1, update_fraction: 0.3}
    """,
    "signed",
    "random",
    "constant",
    1,
    None,
    1.0,
)

RigL = _preset(
    "RigL",
    """RigL (Evci et al. 2020): magnitude drop, growth by dense gradient, cosine-decayed fraction.

    Arguments as :class:`PruneAndRegrow`; the defaults are their paper's: ``alpha = 0.3``, an
    update every 100 steps, none after 75% of training, ERK densities.
    """,
    "magnitude",
    "gradient",
    "cosine",
    None,
    100,
    0.75,
)

PreferentialRegrowth = _preset(
    "PreferentialRegrowth",
    """SET with preferential regrowth: a new entry ``(i, j)`` grows with probability ``~ (k_i k_j)^beta``.

    Arguments as :class:`PruneAndRegrow`, with ``drop="signed"``, ``grow="preferential"``,
    ``beta = 1``; ``beta = 0`` draws uniformly as SET does (from another sampler, so not the same
    entries).
    """,
    "signed",
    "preferential",
    "constant",
    1,
    None,
    1.0,
)
