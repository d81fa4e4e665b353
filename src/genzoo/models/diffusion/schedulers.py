"""Noise schedules and samplers, kept apart from the network (the lesson of diffusers).

A `NoiseSchedule` holds the training-time alphas_cumprod. A sampler is built from a schedule and the model's
prediction type, then `set_timesteps(n)` picks n of the training timesteps and `step(model_output, t, x)`
moves x from timestep t to the next one. Any trained model samples with any sampler and any step count:

    sched = make_scheduler("dpm++", model.schedule, prediction="eps")
    sched.set_timesteps(20)
    for t in sched.timesteps:
        x = sched.step(net(x, t), t, x)

The last step of every sampler lands on clean data (alpha_bar = 1).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from genzoo.errors import GenzooError

PREDICTIONS = ("eps", "x0", "v")
SCHEDULES = ("linear", "cosine")


class NoiseSchedule:
    """alpha_bar(t) for t = 0..T-1: "linear" betas (Ho et al. 2020) or "cosine" (Nichol & Dhariwal 2021)."""

    def __init__(self, kind: str = "linear", timesteps: int = 1000) -> None:
        if kind not in SCHEDULES:
            raise GenzooError(f"unknown noise schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
        if timesteps < 2:
            raise GenzooError(f"timesteps must be at least 2, got {timesteps}")
        self.kind, self.timesteps = kind, timesteps
        if kind == "linear":
            scale = 1000 / timesteps  # keeps the end points of the 1000-step schedule for other T
            betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
        else:
            s = 0.008
            f = (
                torch.cos(
                    (torch.arange(timesteps + 1, dtype=torch.float64) / timesteps + s) / (1 + s) * math.pi / 2
                )
                ** 2
            )
            betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        self.alphas_cumprod = torch.cumprod(1 - betas, 0).float()
        # one copy per device: a CPU->GPU copy in every training step would synchronise the GPU each time
        self._tables: dict[torch.device, Tensor] = {self.alphas_cumprod.device: self.alphas_cumprod}

    def _table(self, device: torch.device) -> Tensor:
        if device not in self._tables:
            self._tables[device] = self.alphas_cumprod.to(device)
        return self._tables[device]

    def alpha_bar(self, t: Tensor | int) -> Tensor:
        """alpha_bar at integer timesteps; t = -1 means clean data (alpha_bar = 1)."""
        t = torch.as_tensor(t, dtype=torch.long)
        ab = self._table(t.device)
        return torch.where(t >= 0, ab[t.clamp(min=0)], torch.ones((), device=t.device))

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """Sample q(x_t | x_0)."""
        ab = _bcast(self.alpha_bar(t).to(x0.device), x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def renoise(self, x: Tensor, t_from: int, t_to: int, generator: torch.Generator | None = None) -> Tensor:
        """Sample q(x_{t_to} | x_{t_from}) for t_to > t_from: the forward jump RePaint resamples with."""
        ratio = float(self.alpha_bar(t_to) / self.alpha_bar(t_from))
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return math.sqrt(ratio) * x + math.sqrt(1 - ratio) * noise

    def target(self, prediction: str, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """What the network learns to output for `prediction` ("eps", "x0" or "v")."""
        if prediction == "eps":
            return noise
        if prediction == "x0":
            return x0
        ab = _bcast(self.alpha_bar(t).to(x0.device), x0)
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def to_x0_eps(self, prediction: str, output: Tensor, t: int, x: Tensor) -> tuple[Tensor, Tensor]:
        """Turn a network output at timestep t into (predicted x0, predicted noise)."""
        ab = float(self.alpha_bar(t))
        a, s = math.sqrt(ab), math.sqrt(1 - ab)
        if prediction == "eps":
            return (x - s * output) / a, output
        if prediction == "x0":
            return output, (x - a * output) / s
        return a * x - s * output, s * x + a * output


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    return v.float().view(-1, *([1] * (like.ndim - 1)))


class Scheduler:
    """Base sampler: `set_timesteps(n)` then `step(model_output, t, x)` for each t in `timesteps`."""

    name: ClassVar[str] = ""

    def __init__(self, schedule: NoiseSchedule, prediction: str = "eps", clip: float | None = 1.0) -> None:
        if prediction not in PREDICTIONS:
            raise GenzooError(
                f"unknown prediction type {prediction!r}; choose one of {', '.join(PREDICTIONS)}"
            )
        self.schedule, self.prediction, self.clip = schedule, prediction, clip
        self.timesteps: list[int] = []

    def set_timesteps(self, n: int) -> None:
        """n evenly spaced training timesteps from T-1 down (n = T visits every one)."""
        big_t = self.schedule.timesteps
        if not isinstance(n, int) or n < 1:
            raise GenzooError(f"steps must be a positive integer, got {n!r}")
        if n > big_t:
            raise GenzooError(f"steps must be at most the {big_t} training timesteps, got {n}")
        # "trailing" spacing (Lin et al. 2024): start at T-1, stride T/n, end one stride above clean data
        ts = (torch.linspace(big_t, 0, n + 1)[:-1].round().long() - 1).tolist()
        self.timesteps = ts
        self._next = {t: (ts[i + 1] if i + 1 < n else -1) for i, t in enumerate(ts)}
        self.reset()

    def reset(self) -> None:
        """Forget any state kept between steps (multistep solvers); called by set_timesteps."""

    def next_timestep(self, t: int) -> int:
        if not self.timesteps:
            raise GenzooError("call set_timesteps(n) before step()")
        return self._next[t]

    def predict(self, model_output: Tensor, t: int, x: Tensor) -> tuple[Tensor, Tensor]:
        """(x0, eps) from the network output, with x0 clipped to the data range where asked."""
        x0, eps = self.schedule.to_x0_eps(self.prediction, model_output.float(), t, x.float())
        if self.clip is not None:
            x0 = x0.clamp(-self.clip, self.clip)
            ab = float(self.schedule.alpha_bar(t))
            eps = (x.float() - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        return x0, eps

    def step(
        self, model_output: Tensor, t: int, x: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        raise NotImplementedError


class DDPMScheduler(Scheduler):
    """Ancestral sampling from the posterior q(x_s | x_t, x0) with x0 predicted (Ho et al. 2020).

    With fewer steps than training timesteps it jumps t -> s using the same posterior formula for the
    pair, which is how diffusers' DDPMScheduler strides too.
    """

    name = "ddpm"

    def step(
        self, model_output: Tensor, t: int, x: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        s = self.next_timestep(t)
        x0, _ = self.predict(model_output, t, x)
        ab_t, ab_s = float(self.schedule.alpha_bar(t)), float(self.schedule.alpha_bar(s))
        alpha = ab_t / ab_s
        beta = 1 - alpha
        mean = (math.sqrt(ab_s) * beta / (1 - ab_t)) * x0 + (
            math.sqrt(alpha) * (1 - ab_s) / (1 - ab_t)
        ) * x.float()
        if s < 0:
            return mean
        var = beta * (1 - ab_s) / (1 - ab_t)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        return mean + math.sqrt(var) * noise


class DDIMScheduler(Scheduler):
    """DDIM (Song et al. 2021): eta=0 is a deterministic ODE-like sampler, eta=1 matches DDPM's variance."""

    name = "ddim"

    def __init__(
        self, schedule: NoiseSchedule, prediction: str = "eps", clip: float | None = 1.0, eta: float = 0.0
    ) -> None:
        super().__init__(schedule, prediction, clip)
        if eta < 0:
            raise GenzooError(f"eta must be >= 0, got {eta}")
        self.eta = eta

    def step(
        self, model_output: Tensor, t: int, x: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        s = self.next_timestep(t)
        x0, eps = self.predict(model_output, t, x)
        ab_t, ab_s = float(self.schedule.alpha_bar(t)), float(self.schedule.alpha_bar(s))
        sigma = self.eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
        out = math.sqrt(ab_s) * x0 + math.sqrt(max(1 - ab_s - sigma**2, 0.0)) * eps
        if sigma > 0:
            out = out + sigma * torch.randn(x.shape, generator=generator, device=x.device)
        return out


class DPMSolverPPScheduler(Scheduler):
    """DPM-Solver++(2M) (Lu et al. 2022): second-order multistep in log-SNR on the x0 prediction.

    Each step reuses the previous step's x0 estimate for the second-order term, so it costs one network
    evaluation; the first step and the last (onto clean data) are first order, as in diffusers.
    """

    name = "dpm++"

    def reset(self) -> None:
        self._prev: tuple[float, Tensor] | None = None  # (lambda, x0) of the previous step

    def _lam(self, ab: float) -> float:
        return 0.5 * math.log(ab / (1 - ab))

    def step(
        self, model_output: Tensor, t: int, x: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        s = self.next_timestep(t)
        x0, _ = self.predict(model_output, t, x)
        if s < 0:  # the final step to alpha_bar = 1 (sigma = 0) is exactly the x0 estimate
            self._prev = None
            return x0
        ab_t, ab_s = float(self.schedule.alpha_bar(t)), float(self.schedule.alpha_bar(s))
        lam_t, lam_s = self._lam(ab_t), self._lam(ab_s)
        h = lam_s - lam_t
        sigma_ratio = math.sqrt((1 - ab_s) / (1 - ab_t))
        alpha_s = math.sqrt(ab_s)
        d = x0
        if self._prev is not None:
            lam_prev, x0_prev = self._prev
            r = (lam_t - lam_prev) / h
            d = x0 + (x0 - x0_prev) / (2 * r)
        self._prev = (lam_t, x0)
        return sigma_ratio * x.float() - alpha_s * math.expm1(-h) * d


SCHEDULERS: dict[str, type[Scheduler]] = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm++": DPMSolverPPScheduler,
}


def make_scheduler(
    name: str | Scheduler,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    clip: float | None = 1.0,
    eta: float = 0.0,
) -> Scheduler:
    """A sampler by name ("ddpm", "ddim", "dpm++"), or pass a Scheduler instance through unchanged."""
    if isinstance(name, Scheduler):
        return name
    if name not in SCHEDULERS:
        raise GenzooError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    if name == "ddim":
        return DDIMScheduler(schedule, prediction, clip, eta=eta)
    return SCHEDULERS[name](schedule, prediction, clip)
