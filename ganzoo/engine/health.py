"""The health monitor: cheap signals of how a GAN is training, and warnings while it happens.

GAN runs go wrong silently: D wins and G stops learning, outputs collapse to one image or to
the input, losses explode, the score stops improving. Every log window the monitor writes one
``health`` record to ``metrics.jsonl`` (and TensorBoard) and feeds it to the rules of
:mod:`ganzoo.engine.health_rules`, which warn once per episode, naming what they saw and the
``--set`` options to try; ``ganzoo doctor`` replays the same records later.

The signals cost almost nothing: D's scores on real and fake come from the adversarial loss's
observer hook (device tensors, reduced with the log window), gradient norms and loss terms
are the step runner's, and a fixed probe batch of a few test images is translated once per
window (under the method's test mode, with the random generators untouched).
"""

from __future__ import annotations

import contextlib
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ganzoo.components import AdversarialLoss, Discriminator, Method
from ganzoo.engine import distributed as ddp
from ganzoo.engine.health_rules import BUILTIN_RULES, Episode, HealthConfig, Rule, RuleTracker, describe
from ganzoo.errors import GanzooError


class HealthMonitor:
    """Collects the signals of a run, writes them each log window and applies the rules.

    ``report`` is the run's :class:`~ganzoo.engine.reporter.Reporter` (``event``, ``warn``, ``tb``);
    ``runner`` the :class:`~ganzoo.engine.steps.StepRunner` (parameters, loss terms per step,
    learning rates); ``probe`` a batch ``{"A": ..., "B": ...}`` on the method's device, or None.
    """

    def __init__(self, method: Method, runner: Any, config: HealthConfig, report: Any, *,
                 probe: Mapping[str, Tensor] | None = None, best_metric: str = "", best_mode: str = "max",
                 rules: Mapping[str, Rule] | None = None, dist: ddp.DistContext | None = None):
        self.method, self.runner, self.config, self.report = method, runner, config, report
        self.probe, self.dist = probe, dist
        if rules is None:
            from ganzoo.plugins import get_plugins

            rules = {**BUILTIN_RULES, **get_plugins().health_rules}
        self.tracker = RuleTracker(config, dict(rules), best_metric, best_mode)
        self.stop_reason: str | None = None
        self.pending: Episode | None = None
        """An episode whose reaction is rollback, not yet handled (see :mod:`ganzoo.engine.rollback`)."""
        self._names = {id(m): n for n, m in method.named_modules() if isinstance(m, Discriminator)}
        self._d_stats: dict[str, list[Tensor]] = defaultdict(list)
        self.gan_slot = "gan_loss"
        if config.enabled:
            for loss in (m for m in method.modules() if isinstance(m, AdversarialLoss)):
                loss.observers.append(self._observer(loss.threshold))
                self.gan_slot = loss.name

    @classmethod
    def for_run(cls, resolved: Any, method: Method, runner: Any, report: Any, runtime: Any) -> HealthMonitor:
        """The monitor of a training run: its ``train.health`` settings, probe batch and best metric."""
        t = resolved.train
        probe = probe_batch(resolved, t.health.probe_items * t.health.enabled, runtime.device)
        return cls(method, runner, t.health, report, probe=probe, best_metric=t.best_metric, best_mode=t.best_mode,
                   dist=runtime.dist)

    def _observer(self, threshold: float) -> Any:
        def observe(d: nn.Module, real: list[Tensor], fake: list[Tensor]) -> None:
            r = torch.cat([p.float().flatten() for p in real])
            f = torch.cat([p.float().flatten() for p in fake])
            acc = 0.5 * ((r > threshold).float().mean() + (f < threshold).float().mean())
            self._d_stats[self._names.get(id(d), type(d).__name__)].append(torch.stack([r.mean(), f.mean(), acc]))
        return observe

    # ------------------------------------------------------------------ the loop's calls

    def window(self, step: int, means: Mapping[str, float], learning_rates: Mapping[str, float]) -> bool:
        """Write this window's record and apply the rules; True when a rule's reaction is stop
        (one whose reaction is rollback sets ``pending``)."""
        if not self.config.enabled:
            return False
        record = {"step": step, "event": "health", "kind": "health", **self.signals(means, learning_rates)}
        self.report.event(step, "health", **{k: v for k, v in record.items() if k not in ("step", "event")})
        self.report.loggers.scalars(step, {f"health/{k}": v for k, v in record.items() if isinstance(v, float)})
        return self._react(step, self.tracker.observe(record))

    def evaluation(self, step: int, scores: Mapping[str, float]) -> bool:
        """An evaluation's scores (the stall rule); True when a rule's reaction is stop."""
        if not self.config.enabled:
            return False
        return self._react(step, self.tracker.observe({"step": step, **{f"eval/{k}": v for k, v in scores.items()}}))

    def replay(self, records: Sequence[Mapping[str, Any]]) -> None:
        """A resumed run's earlier records, so episodes continue instead of warning again."""
        for record in records:
            self.tracker.observe(record)

    def _react(self, step: int, opened: Sequence[Any]) -> bool:
        stop = False
        for episode in opened:
            reaction = getattr(self.config, f"on_{episode.rule}", "warn")
            doing = {"stop": "stopping", "rollback": "rolling back"}.get(reaction)
            self.report.warn(describe(episode) + (f" ({doing}: train.health.on_{episode.rule} = '{reaction}')"
                                                  if doing else ""))
            self.report.event(step, "health_warning", kind="health", reaction=reaction, **episode.as_dict())
            if reaction == "stop":
                self.stop_reason, stop = f"{episode.rule} since step {episode.start}", True
            elif reaction == "rollback" and self.pending is None:
                self.pending = episode  # the trainer rolls back once the step's other work is done
        return stop

    # ------------------------------------------------------------------ signals

    def signals(self, means: Mapping[str, float], learning_rates: Mapping[str, float]) -> dict[str, Any]:
        out: dict[str, Any] = {"gan_slot": self.gan_slot, **learning_rates}
        steps: dict[str, dict[str, float]] = defaultdict(dict)
        for term, step in self.runner.term_steps.items():
            if term in means:
                steps[step][term] = means[term]
        for step, terms in steps.items():
            out[f"loss/{step}"] = round(sum(terms.values()), 6)
            scale = sum(abs(v) for v in terms.values()) or 1.0
            out.update({f"share/{step}/{t}": round(abs(v) / scale, 4) for t, v in terms.items()})
        out.update({f"grad/{k.removeprefix('grad_norm/')}": round(v, 6) for k, v in means.items()
                    if k.startswith("grad_norm/")})
        out.update(self._discriminator_signals(steps))
        d_steps = {s for name in self._names.values() for s in self._steps_training(name)}
        out["g_step"] = next((s.name for s in self.runner.steps if s.name not in d_steps), "G")
        out.update(self._probe_signals())
        return out

    def _discriminator_signals(self, steps: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
        if not self._d_stats:
            return {}
        names = sorted(self._d_stats)
        stats = torch.stack([torch.stack(self._d_stats[n]).mean(0) for n in names])
        stats = ddp.all_reduce_mean(stats, self.dist) if self.dist is not None else stats
        self._d_stats.clear()
        out: dict[str, float] = {}
        for name, (real, fake, acc) in zip(names, stats.tolist(), strict=True):
            out.update({f"d/{name}/real": round(real, 4), f"d/{name}/fake": round(fake, 4),
                        f"d/{name}/gap": round(real - fake, 4), f"d/{name}/acc": round(acc, 4)})
            d_loss = [sum(steps[s].values()) for s in self._steps_training(name) if s in steps]
            if d_loss:
                out[f"d/{name}/loss"] = round(sum(d_loss), 6)
        return out

    def _steps_training(self, name: str) -> list[str]:
        """The steps whose optimizer holds discriminator ``name``'s parameters."""
        module = self.method.get_submodule(name) if name in dict(self.method.named_modules()) else None
        first = next(module.parameters(), None) if module is not None else None
        if first is None:
            return []
        groups = [g for g, params in self.runner.params.items() if any(p is first for p in params)]
        return [s.name for s in self.runner.steps if s.optimizer in groups]

    @torch.no_grad()
    def _probe_signals(self) -> dict[str, float]:
        """Diversity of outputs over inputs, and outputs' distance to their inputs over the gap
        between the two domains' mean images, on the fixed probe batch, per direction."""
        if not self.probe or self.config.probe_items < 2:
            return {}
        from ganzoo.inference import testing

        out: dict[str, float] = {}
        with _untouched_rng(self.probe["A"].device), testing(self.method):
            for direction in self.method.directions:
                a, b = self.probe["A"], self.probe["B"]
                x, other = (a, b) if direction == "a2b" else (b, a)
                y = self.method.translate(x, direction).float()
                x, other = x.float(), other.float()
                spread = torch.pdist(x.flatten(1)).mean()
                if spread > 0:
                    out[f"probe/{direction}/diversity"] = round(float(torch.pdist(y.flatten(1)).mean() / spread), 4)
                if y.shape == x.shape and other.shape[1:] == x.shape[1:]:
                    gap = (x.mean(0) - other.mean(0)).flatten().norm()
                    if gap > 0.05 * spread:  # domains whose mean images differ: the identity is wrong there
                        out[f"probe/{direction}/identity"] = round(float((y - x).flatten(1).norm(dim=1).mean() / gap),
                                                                   4)
        return out


def probe_batch(resolved: Any, items: int, device: torch.device) -> dict[str, Tensor] | None:
    """The first ``items`` items of the test split (the training split if there is none), for
    every log window's probe: loaded with the random generators untouched."""
    if items < 2:
        return None
    with _untouched_rng(device):
        for split in ("test", "train"):
            try:
                data = resolved.build_dataset(split)
            except (GanzooError, ValueError, OSError):
                continue
            n = min(items, len(data))
            if n < 2:
                continue
            batch = [data[i] for i in range(n)]
            if not all(isinstance(b.get(k), Tensor) for b in batch for k in ("A", "B")):
                return None
            shapes = {(k, tuple(b[k].shape)) for b in batch for k in ("A", "B")}
            if len(shapes) != 2:  # images of different sizes do not stack
                return None
            return {k: torch.stack([b[k] for b in batch]).to(device) for k in ("A", "B")}
    return None


@contextlib.contextmanager
def _untouched_rng(device: torch.device) -> Any:
    """Python's, numpy's and torch's generators as they were: probing must not change training."""
    py, np_state = random.getstate(), np.random.get_state()
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
