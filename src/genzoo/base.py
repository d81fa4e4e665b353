"""The one protocol every model follows (see DESIGN.md).

A model is a `torch.nn.Module` with a config dataclass and a `loss(batch)`. What else it can do (sample,
log_prob, inpaint, translate, ...) it declares with the capabilities of `genzoo.protocols` among its bases;
the engine, hub, metrics, CLI and apps only ever talk to this surface and to those capabilities, which is what
lets any application use any model that can do what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.data.info import DataInfo
from genzoo.errors import GenzooError


@dataclass(frozen=True)
class Recipe:
    """The smallest honest run of a model: its smallest dataset, tiny options, and the runs it builds on.

    `runs` maps a config field that names a saved run (e.g. `latent_of`) to the (model, recipe) to train
    first. The contract test trains every registered model by its recipe and exercises each capability it
    declares, so a model without one, or one that breaks its protocol, fails by name.
    """

    data: str
    options: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, tuple[str, Recipe]] = field(default_factory=dict)
    batch_size: int = 8


class GenerativeModel(nn.Module):
    """Base class: holds the config and the data description; subclasses supply the maths.

    Subclasses set `Config` (a dataclass with complete defaults) and implement `loss`. They may override
    `config_from_data` to fill shape fields (channels, image size, classes, vocabulary) from a dataset.
    Multi-optimizer models (GANs) set `manual_optimization = True` and implement `optimizers_for` and
    `manual_step`; the engine then drives them with Lightning's manual optimisation.
    """

    Config: ClassVar[type]
    model_name: ClassVar[str] = ""
    #: learning rate and weight-EMA decay `fit` uses when the caller names none (None: no EMA)
    default_lr: ClassVar[float] = 1e-3
    default_ema: ClassVar[float | None] = None
    #: precision `fit` uses when the caller names none; likelihood models that need fp32 override it.
    default_precision: ClassVar[str] = "bf16-mixed"
    #: True for models that step several optimizers themselves (GANs); see `optimizers_for`/`manual_step`.
    manual_optimization: ClassVar[bool] = False
    #: the smallest run that exercises the model (see `Recipe`); every registered model has one
    quick: ClassVar[Recipe | None] = None

    def __init__(self, config: Any, data_info: DataInfo | None = None) -> None:
        super().__init__()
        self.config = config
        self.data_info = data_info

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def config_from_data(cls, info: DataInfo) -> dict[str, Any]:
        """Config fields implied by a dataset (e.g. channels and image size). Overrides win over these."""
        return {}

    # -- the protocol ------------------------------------------------------------------------------------
    def loss(self, batch: Any) -> dict[str, Tensor]:
        """Training objective on one batch: {"loss": scalar, plus named parts that are logged}."""
        raise NotImplementedError

    def validation_loss(self, batch: Any) -> dict[str, Tensor]:
        """The objective on held-out data; models whose training loss is stochastic or regularised override it."""
        return self.loss(batch)

    @property
    def num_classes(self) -> int:
        """Classes this run was built to condition on (0: unconditional); see `protocols.ClassConditional`."""
        return int(getattr(self.config, "num_classes", 0) or 0)

    def sample_labels(self, labels: Tensor | int | None, n: int) -> Tensor | int | None:
        """The labels to sample with: as given, or, for a class-conditional run given none, classes drawn
        uniformly (so `sample(n)` means the same thing for every `Sampler`)."""
        if labels is None and self.num_classes:
            return torch.randint(self.num_classes, (n,), device=self.device)
        return labels

    # -- optional hooks for the engine -------------------------------------------------------------------
    def training_data(self, data: Any) -> Any:
        """The dataset `fit` iterates. Identity for most models; a model whose examples are cut from a
        dataset (e.g. windows of one time series) returns that view, so `genzoo train` works unchanged."""
        return data

    def optimizers_for(self, lr: float) -> list[torch.optim.Optimizer]:
        """Optimizers for training. One (fused) AdamW over all parameters unless a model knows better."""
        from genzoo.optim import adamw

        return [adamw(self.parameters(), lr=lr)]

    def manual_step(self, batch: Any, optimizers: list[torch.optim.Optimizer], backward: Any) -> dict[str, Tensor]:
        """One training step for `manual_optimization` models: zero, `backward(loss)`, step each optimizer."""
        raise NotImplementedError

    def sample_grid(self, n: int = 64) -> Tensor | None:
        """Images for the periodic sample grid during training; None where samples are not images."""
        from genzoo.protocols import Sampler

        if self.data_info is None or self.data_info.kind != "image" or not isinstance(self, Sampler):
            return None
        return self.sample(n)

    def check_input(self, x: Tensor, what: str = "input") -> None:
        """Refuse data whose shape does not match what the model was built for, in one line."""
        if self.data_info is None or self.data_info.shape is None:
            return
        expected = tuple(self.data_info.shape)
        if tuple(x.shape[1:]) != expected:
            raise GenzooError(
                f"{what} has shape {tuple(x.shape[1:])} per example but model {self.model_name!r} "
                f"was built for {expected}"
            )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
