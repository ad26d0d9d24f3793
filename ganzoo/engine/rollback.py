"""The health monitor's ``rollback`` reaction: back to the last healthy checkpoint, with a lower lr.

A GAN that has started to diverge or collapse rarely recovers by training on, and stopping it
throws away the compute that is still good. Rolling back restores the newest periodic
checkpoint written before the episode began, lowers the learning rate of the optimizer group
the rule named (its :class:`~ganzoo.engine.health_rules.Finding`'s ``group``; every group when
it names none) and trains on from there, so the run tries the first remedy the advice gives
without anyone watching it.

The lowered rate is a new *base* rate of the group's schedule, so it persists through the
schedule and is saved in every checkpoint (the schedulers' state holds it); a checkpoint of the
restored step is written at once, so a crash right after the rollback resumes with it too. The
rollback is a ``health_rollback`` record of ``metrics.jsonl``, which the rules (and ``ganzoo
doctor``) read as "training went back to ``to_step``" and which counts towards
``train.health.max_rollbacks``; past that, or with no checkpoint before the episode, the run
stops (saved) as the ``stop`` reaction does, saying why.
"""

from __future__ import annotations

from typing import Any

from ganzoo.engine.health import HealthMonitor
from ganzoo.engine.health_rules import Episode
from ganzoo.engine.run_state import RunState


def roll_back(episode: Episode, step: int, state: RunState, health: HealthMonitor, report: Any) -> int | None:
    """Restore the checkpoint before ``episode`` and lower the offending lr; returns the step to
    continue from, or None when the run must stop instead (``health.stop_reason`` says why)."""
    config, runner, rule = health.config, state.runner, episode.rule
    target = state.before(episode.start)
    done = health.tracker.rollbacks
    if done >= config.max_rollbacks or target is None:
        why = (f"{done} rollback(s) already, train.health.max_rollbacks = {config.max_rollbacks}" if target else
               f"no checkpoint before step {episode.start} to roll back to (train.checkpoint_every)")
        health.stop_reason = f"{rule} since step {episode.start}; {why}"
        report.warn(f"health: cannot roll back for {rule}: {why}; stopping instead")
        return None
    bases = runner.base_lrs()  # the rates before the restore: earlier rollbacks' lowerings stay
    to_step, _, _ = state.restore(target, clock=False)
    groups = [episode.group] if episode.group in bases else sorted(bases)
    runner.set_base_lrs(bases)
    old = {g: runner.optimizers[g].param_groups[0]["lr"] for g in groups}  # the rates at to_step, and after:
    runner.set_base_lrs({g: [b * config.rollback_factor for b in v] if g in groups else v for g, v in bases.items()})
    new = {g: runner.optimizers[g].param_groups[0]["lr"] for g in groups}
    record = {"rule": rule, "start": episode.start, "from_step": step, "to_step": to_step, "group": ",".join(groups),
              "old_lr": old, "new_lr": new, "checkpoint": target.name, "count": done + 1}
    report.event(to_step, "health_rollback", kind="health", **record)
    health.tracker.observe({"event": "health_rollback", **record})
    rates = ", ".join(f"lr/{g} {old[g]:.3g} -> {new[g]:.3g}" for g in groups)
    report.warn(f"health: rolled back from step {step} to step {to_step} ({target.name}) for {rule}; {rates} "
                f"(rollback {done + 1} of at most {config.max_rollbacks})")
    report.rewind(to_step)
    return to_step
