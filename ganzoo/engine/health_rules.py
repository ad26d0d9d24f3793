"""The rules that read a run's health signals and name what is going wrong, with what to try.

Torch-free on purpose: the same code judges a run while it trains (the monitor feeds it each
``health`` record as it is written) and afterwards (``ganzoo doctor`` replays ``metrics.jsonl``),
so both say the same thing, at the same step, for finished, interrupted and crashed runs.

A rule looks at the latest ``health`` records (and evaluations, for ``stall``) and returns a
:class:`Finding` or None. A finding that holds for ``window`` consecutive records starts an
*episode*, reported once, with the step where it began; it ends at the first record where
the rule is quiet. Plugins add rules with the ``health_rules`` hook (:mod:`ganzoo.hookspecs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Reaction = Literal["warn", "stop", "rollback"]


def _on(rule: str, lowered: str) -> Any:
    return Field("warn", description=f"What {rule} does: warn, stop the run (saved), or rollback (to the last "
                 f"healthy checkpoint, with {lowered} lowered; see docs/health.md).")


class HealthConfig(BaseModel):
    """``[train.health]``: the monitor's signals, each rule's threshold and what a rule does."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(True, description="Log health signals every log window and check the rules.")
    probe_items: int = Field(
        8, ge=0, description="Fixed probe images (the first test items) translated every log window to measure "
        "output diversity and distance to the input; 0 disables those signals.")
    window: int = Field(3, ge=1, description="Consecutive log windows a rule must hold before it warns.")
    d_accuracy: float = Field(
        0.85, gt=0.5, le=1, description="d_dominating: a discriminator's accuracy on real and fake at or above this "
        "(healthy quickstarts peak near 0.9 for a window or two early on, then stay near 0.7).")
    collapse_ratio: float = Field(
        0.25, ge=0, description="collapse: output diversity (pairwise distance of outputs over that of the inputs) "
        "below this.")
    identity_ratio: float = Field(
        0.25, ge=0, description="identity: mean distance output-input, over the distance between the two domains' "
        "mean images, below this.")
    divergence_factor: float = Field(
        20.0, gt=1, description="divergence: a step's loss or gradient norm this many times its smallest window "
        "value so far, and rising.")
    stall_evals: int = Field(5, ge=2, description="stall: evaluations in a row with no new best of train.best_metric.")
    on_d_dominating: Reaction = _on("d_dominating", "D's lr")
    on_collapse: Reaction = _on("collapse", "G's lr")
    on_identity: Reaction = _on("identity", "every group's lr")
    on_divergence: Reaction = _on("divergence", "the diverging group's lr")
    on_stall: Reaction = _on("stall", "every group's lr")
    rollback_factor: float = Field(0.5, gt=0, lt=1, description="rollback: multiplies the offending group's base lr "
                                   "(so its whole schedule); checkpoints keep the lowered rate.")
    max_rollbacks: int = Field(3, ge=0, description="rollback: at most this many in a run (resumes included); then the "
                               "rule stops the run instead.")


@dataclass(frozen=True)
class Finding:
    """What a rule saw in one record, and what to try (exact ``--set`` options first)."""

    saw: str
    advice: tuple[str, ...] = ()
    group: str | None = None
    """The optimizer group whose lr a rollback lowers (None: every group)."""


@dataclass
class Context:
    """What rules read besides the newest record: earlier records, evaluations, the settings."""

    history: Sequence[Mapping[str, Any]]
    evals: Sequence[Mapping[str, Any]]
    config: HealthConfig
    best_metric: str = ""
    best_mode: str = "max"

    @property
    def latest(self) -> Mapping[str, Any]:
        return self.history[-1]


Rule = Callable[[Context], "Finding | None"]


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _keys(record: Mapping[str, Any], prefix: str, suffix: str = "") -> list[str]:
    return sorted(k for k in record if k.startswith(prefix) and k.endswith(suffix) and _num(record[k]))


def _lower_lr(record: Mapping[str, Any], group: str, factor: float = 0.25) -> str:
    lr = record.get(f"lr/{group}")
    value = f"{float(lr) * factor:.3g}" if _num(lr) else "<lower>"
    return f"--set method.lr_by_group.{group}={value}"


def _largest_term(record: Mapping[str, Any]) -> tuple[str, float] | None:
    """The term with the largest share of the generators' step loss (``share/<step>/<term>``)."""
    prefix = f"share/{record.get('g_step', 'G')}/"
    shares = {k.removeprefix(prefix): float(record[k]) for k in _keys(record, prefix)}
    return max(shares.items(), key=lambda kv: kv[1]) if shares else None


def d_dominating(ctx: Context) -> Finding | None:
    """D tells real from fake almost perfectly, window after window: G's adversarial gradient
    carries no information about how to get closer, and G stops learning from it."""
    r, c = ctx.latest, ctx.config
    gan = r.get("gan_slot", "gan_loss")
    for key in _keys(r, "d/", "/acc"):
        if r[key] < c.d_accuracy:
            continue
        name = key.split("/")[1]
        loss = r.get(f"d/{name}/loss")
        more = f", D loss {loss:.3g}" if _num(loss) else ""
        more += f", G gradient norm {r['grad/G']:.3g}" if _num(r.get("grad/G")) else ""
        top = _largest_term(r)
        more += f"; G's largest loss term is {top[0]} ({top[1]:.0%} of G's loss)" if top else ""
        return Finding(
            f"{name} accuracy {r[key]:.2f} (at least {c.d_accuracy}), real-fake score gap "
            f"{r.get(f'd/{name}/gap', float('nan')):.2f}{more}",
            (_lower_lr(r, "D"), f"--set {gan}.r1_gamma=1", f"--set {gan}.label_smoothing=0.1",
             "--set discriminator.spectral_norm=true", "lower the weight of a G term that outweighs the rest",
             f"--set {gan}.augment=\"color,translation,cutout\" --set {gan}.ada_target=0.6"), group="D")
    return None


def collapse(ctx: Context) -> Finding | None:
    """Different inputs give (nearly) the same output."""
    r, c = ctx.latest, ctx.config
    gan = r.get("gan_slot", "gan_loss")
    for key in _keys(r, "probe/", "/diversity"):
        if r[key] < c.collapse_ratio:
            direction = key.split("/")[1]
            return Finding(
                f"{direction} outputs of the probe images differ {r[key]:.2f}x as much as the inputs do "
                f"(below {c.collapse_ratio})",
                (_lower_lr(r, "G"), f"--set {gan}.r1_gamma=1", "--set discriminator.spectral_norm=true",
                 f"--set {gan}.instance_noise=0.1 --set {gan}.instance_noise_steps=<half the run>"), group="G")
    return None


def identity(ctx: Context) -> Finding | None:
    """The generator returns its input although the domains differ."""
    r, c = ctx.latest, ctx.config
    for key in _keys(r, "probe/", "/identity"):
        if r[key] < c.identity_ratio:
            direction = key.split("/")[1]
            top = _largest_term(r)
            heavy = f"; the largest G term is {top[0]} ({top[1]:.0%} of its step)" if top else ""
            return Finding(
                f"{direction} outputs are {r[key]:.2f}x the domain gap away from their inputs (below "
                f"{c.identity_ratio}){heavy}",
                ("--set method.lambda_identity=0 (cyclegan)", "--set identity_loss.weight=0",
                 f"--set {r.get('gan_slot', 'gan_loss')}.weight=2"))
    return None


def divergence(ctx: Context) -> Finding | None:
    """A loss or gradient norm grows without bound."""
    r, c = ctx.latest, ctx.config
    for key in [*_keys(r, "loss/"), *_keys(r, "grad/")]:
        values = [float(h[key]) for h in ctx.history if _num(h.get(key))]
        if len(values) < 3:
            continue
        low = min(values[:-1])
        rising = values[-1] > values[-2]
        if low > 0 and values[-1] >= c.divergence_factor * low and rising:
            group = key.split("/")[1]
            group = group if f"lr/{group}" in r else "G"
            return Finding(f"{key} is {values[-1]:.3g}, {values[-1] / low:.0f}x its lowest ({low:.3g}), and rising",
                           (_lower_lr(r, group), "--set train.grad_clip=10", "--set train.precision=fp32"), group=group)
    return None


def stall(ctx: Context) -> Finding | None:
    """The tracked evaluation score has not improved for ``stall_evals`` evaluations."""
    key, n = f"eval/{ctx.best_metric}", ctx.config.stall_evals
    values = [float(e[key]) for e in ctx.evals if _num(e.get(key))]
    if not ctx.best_metric or len(values) <= n:
        return None
    sign = 1.0 if ctx.best_mode == "max" else -1.0
    best_before = max(sign * v for v in values[:-n])
    if all(sign * v <= best_before for v in values[-n:]):
        return Finding(f"{ctx.best_metric} has not beaten {sign * best_before:.4g} in the last {n} evaluations",
                       (_lower_lr(ctx.latest, "G", 0.5) + " (and D alike)",
                        "--set method.schedule.policy=cosine", "or stop here: checkpoints/best holds the best"))
    return None


BUILTIN_RULES: dict[str, Rule] = {"d_dominating": d_dominating, "collapse": collapse, "identity": identity,
                                  "divergence": divergence, "stall": stall}


@dataclass
class Episode:
    rule: str
    start: int
    saw: str
    advice: tuple[str, ...]
    group: str | None = None
    end: int | None = None
    """Step of the first record where the rule was quiet again (None: still on at the end)."""
    last: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "start": self.start, "end": self.end, "last": self.last, "saw": self.saw,
                "advice": list(self.advice), "group": self.group}


@dataclass
class RuleTracker:
    """Feeds records to the rules one at a time and opens and closes episodes; ``observe``
    returns the episodes that opened with this record (what to warn about now)."""

    config: HealthConfig
    rules: Mapping[str, Rule] = field(default_factory=lambda: dict(BUILTIN_RULES))
    best_metric: str = ""
    best_mode: str = "max"
    history: list[Mapping[str, Any]] = field(default_factory=list)
    evals: list[Mapping[str, Any]] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    rollbacks: int = 0  # health_rollback records seen: what train.health.max_rollbacks limits
    _streak: dict[str, list[tuple[int, Finding]]] = field(default_factory=dict)
    _open: dict[str, Episode] = field(default_factory=dict)

    def observe(self, record: Mapping[str, Any]) -> list[Episode]:
        """A ``metrics.jsonl`` record: health records are judged, evaluations remembered."""
        if any(k.startswith("eval/") for k in record):
            self.evals.append(record)
            return self._judge(record, only=("stall",)) if self.history else []
        if record.get("event") == "health_rollback":
            self.rolled_back(record)
            return []
        if record.get("event") != "health":
            return []
        self.history.append(record)
        return self._judge(record, only=tuple(k for k in self.rules if k != "stall"))

    def rolled_back(self, record: Mapping[str, Any]) -> None:
        """Training went back to ``to_step``: what came after is gone from the rules' view, and open
        episodes end (a problem that comes back is a new episode, which reacts again)."""
        to_step, self.rollbacks = int(record["to_step"]), self.rollbacks + 1
        self.history = [r for r in self.history if int(r.get("step", 0)) <= to_step]
        self.evals = [r for r in self.evals if int(r.get("step", 0)) <= to_step]
        for episode in self._open.values():
            episode.end = int(record.get("from_step", to_step))
        self._open.clear()
        self._streak.clear()

    def _judge(self, record: Mapping[str, Any], only: Iterable[str]) -> list[Episode]:
        ctx = Context(self.history, self.evals, self.config, self.best_metric, self.best_mode)
        step, opened = int(record.get("step", 0)), []
        for name in only:
            finding = self.rules[name](ctx) if name in self.rules else None
            if finding is None:
                self._streak.pop(name, None)
                if name in self._open:
                    self._open.pop(name).end = step
                continue
            if name in self._open:
                self._open[name].last = step
                continue
            (streak := self._streak.setdefault(name, [])).append((step, finding))
            needed = 1 if name == "stall" else self.config.window
            if len(streak) >= needed:
                episode = Episode(name, streak[0][0], finding.saw, finding.advice, finding.group, last=step)
                self.episodes.append(episode)
                self._open[name] = episode
                opened.append(episode)
                del self._streak[name]
        return opened


def diagnose(records: Iterable[Mapping[str, Any]], config: HealthConfig | None = None, *, best_metric: str = "",
             best_mode: str = "max", rules: Mapping[str, Rule] | None = None) -> RuleTracker:
    """Replay a run's log through the rules (what ``ganzoo doctor`` does)."""
    tracker = RuleTracker(config or HealthConfig(), dict(rules or BUILTIN_RULES), best_metric, best_mode)
    for record in records:
        tracker.observe(record)
    return tracker


def describe(episode: Episode) -> str:
    """One line for the console: the rule, where it began, what it saw, the first thing to try."""
    tries = "; ".join(episode.advice[:3])
    return f"health: {episode.rule} since step {episode.start}: {episode.saw}. Try: {tries}"


HealthFinding, HealthContext = Finding, Context
"""The public names (``ganzoo.HealthFinding``, ``ganzoo.HealthContext``) of what a plugin's rule
returns and reads (see the ``register_health_rules`` hook)."""
