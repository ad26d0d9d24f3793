"""Running a method's train steps: everything between "here is a batch" and "the weights moved".

For each :class:`ganzoo.TrainStep` of an iteration: freeze the step's ``frozen`` modules, run
``compute`` under autocast, check the loss terms are finite, back-propagate, average gradients
across processes, clip, step the optimizer (through its fp16 scaler); after all steps, step the
schedules, the weight average and the shared buffers. A method never sees any of this.

fp16 gets one ``GradScaler`` per optimizer: the G and D losses of a GAN differ by orders of
magnitude and overflow at different times, so one shared scale would keep skipping the steps of
the well-behaved one.

The loop waits for the GPU only where a number must reach the CPU: finiteness flags stay on the
device and are checked every ``train.check_finite_every`` iterations and before every checkpoint
(with the default of 1, before the update, so a failing step never reaches the weights). Losses
are not enough: a finite loss can still overflow a gradient, and huge finite gradients overflow
Adam's second moments, after which the weights silently stop moving. So the total gradient norm
of each step is checked too (except under fp16, whose scaler skips such steps by design), and
before a checkpoint is written every weight, buffer, average and optimizer state is.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganzoo.components import AdversarialLoss, Batch, Method, TrainStep
from ganzoo.engine import distributed as ddp
from ganzoo.engine.checkpoint import latest_complete
from ganzoo.engine.runtime import Runtime
from ganzoo.errors import GanzooError, TrainingError
from ganzoo.optim import build_optimizer, build_scheduler, lr_factor


@dataclass
class _Pending:
    """Finiteness flags of one step's loss terms (or of its gradients), still on the device."""

    iteration: int
    step: str
    keys: list[str]
    finite: Tensor
    values: Tensor
    params: Sequence[nn.Parameter] = ()


class FiniteGuard:
    """Collects per-term finiteness flags without waiting, and raises on the first bad term
    when :meth:`check` is called (all ranks agree: a term non-finite on one stops them all)."""

    def __init__(self, runtime: Runtime, checkpoints: Path, names: Mapping[int, str]):
        self.runtime, self.checkpoints, self.names = runtime, checkpoints, names
        self._pending: list[_Pending] = []

    def record(self, iteration: int, step: str, terms: Mapping[str, Tensor]) -> None:
        if terms:
            values = torch.stack([v.detach().float().sum() for v in terms.values()])
            self._pending.append(_Pending(iteration, step, list(terms), torch.isfinite(values), values))

    def record_gradients(self, iteration: int, step: str, params: Sequence[nn.Parameter], norm: Tensor) -> None:
        norm = norm.detach().float().reshape(1)
        self._pending.append(_Pending(iteration, step, ["gradients"], torch.isfinite(norm), norm, params))

    def kept(self) -> str:
        """Where the last good state is, for the messages."""
        last = latest_complete(self.checkpoints)
        return f"the last good checkpoint, {last}, is kept" if last else "no checkpoint was written yet"

    def check(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:  # every rank runs the same steps, so all agree on this
            return
        flags = torch.cat([p.finite for p in pending]).int()
        ok = ddp.all_reduce_min(flags, self.runtime.dist).tolist() if self.runtime.dist.enabled else flags.tolist()
        if all(ok):
            return
        offset = 0
        for p in pending:
            seg, offset = ok[offset:offset + len(p.keys)], offset + len(p.keys)
            if all(seg):
                continue
            bad = [k for k, good in zip(p.keys, seg, strict=True) if not good]
            local = float(p.values[p.keys.index(bad[0])])
            value = local if not math.isfinite(local) else "non-finite on another rank"
            if p.params:  # every loss was finite, the gradients were not
                grads = [(self.names.get(id(q), "?"), q.grad) for q in p.params if q.grad is not None]
                bad_name = next((n for n, g in grads if not torch.isfinite(g).all()), None)
                what = (f"the gradient of {bad_name} became {value}" if bad_name else
                        "the gradients overflowed float32 (their norm is inf; the largest is "
                        f"{max(grads, key=lambda ng: float(ng[1].abs().max()))[0]}'s)")
                raise TrainingError(
                    f"{what} at step {p.iteration} ({p.step} step) although every loss was finite; {self.kept()}. "
                    "Try a lower learning rate, train.grad_clip, or fp32.")
            raise TrainingError(
                f"loss {', '.join(bad)} became {value} at step {p.iteration} ({p.step} step); {self.kept()}. "
                "Try a lower learning rate or fp32 precision.")


class StepRunner:
    """The optimizers, schedules and scalers of a method, and the execution of its steps."""

    def __init__(self, method: Method, runtime: Runtime, *, total: int, grad_clip: float = 0.0,
                 check_finite_every: int = 1, checkpoint_dir: Path = Path("checkpoints"), ema: Any = None,
                 cudagraphs: bool = False):
        self.method, self.runtime = method, runtime
        self.grad_clip, self.check_every = grad_clip, check_finite_every
        self.ema, self.cudagraphs = ema, cudagraphs
        self.params = {name: unique(p) for name, p in method.param_groups().items()}
        unknown = set(getattr(method.config, "lr_by_group", {})) - set(self.params)
        if unknown:  # a misspelt group would silently train at the common lr
            raise GanzooError(f"method.lr_by_group names {', '.join(sorted(unknown))}, which is not an optimizer group "
                              f"of this method ({', '.join(self.params)})")
        fused = runtime.device.type == "cuda"  # one kernel per step for all parameters; foreach elsewhere
        self.optimizers = {name: build_optimizer(p, method.optimizer_config(name), fused=fused)
                           for name, p in self.params.items()}
        self.schedule, self.total = method.config.schedule, total  # type: ignore[attr-defined]
        self.schedulers = {n: build_scheduler(o, self.schedule, total) for n, o in self.optimizers.items()}
        self.scalers = ({n: torch.amp.GradScaler(runtime.device.type) for n in self.optimizers}
                        if runtime.dtype == torch.float16 else {})
        self.steps: list[TrainStep] = method.train_steps()
        for s in self.steps:
            for name in s.optimizers:
                if name not in self.optimizers:
                    raise GanzooError(f"method step '{s.name}' uses optimizer '{name}', which "
                                      f"param_groups() does not define ({', '.join(self.optimizers)})")
        self.names = {id(p): n for n, p in method.named_parameters(remove_duplicate=False)}
        self.guard = FiniteGuard(runtime, checkpoint_dir, self.names)
        self._sync_buffers = [b for b in method.buffers() if b.is_floating_point()]
        self.adversarial = [m for m in method.modules() if isinstance(m, AdversarialLoss)]
        self.term_steps: dict[str, str] = {}
        """Loss term -> the step that computed it (the health monitor's loss shares are per step)."""

    def iteration(self, batch: Batch, number: int) -> dict[str, Tensor]:
        """Iteration ``number`` (1-based): every step, then schedules, the average and buffers.
        Returns the loss terms (and gradient norms) as detached device tensors."""
        logged: dict[str, Tensor] = {}
        if self.cudagraphs:  # graphs' outputs from the last iteration are no longer in use
            torch.compiler.cudagraph_mark_step_begin()
        for loss in self.adversarial:  # lazy regularisation and noise annealing count iterations
            loss.iteration = number
        for step in self.steps:
            if number % step.every:  # a step of every k-th iteration only (StarGAN's n_critic)
                continue
            for _ in range(step.repeat):
                logged.update(self._step(step, batch, number))
        with warnings.catch_warnings():
            # a GradScaler skipping an overflowing step looks to torch like a scheduler stepped first
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            for sched in self.schedulers.values():
                sched.step()
        if self.ema is not None:
            self.ema.update()
        if self.runtime.dist.enabled and self._sync_buffers:  # running statistics: rank 0's, as DDP does
            ddp.broadcast_tensors(self._sync_buffers, self.runtime.dist)
        if number % self.check_every == 0:
            self.guard.check()
        return logged

    def _step(self, step: TrainStep, batch: Batch, number: int) -> dict[str, Tensor]:
        # one loss has one scale: the step's first optimizer's scaler serves every group it steps
        names, scaler = step.optimizers, self.scalers.get(step.optimizer)
        logged: dict[str, Tensor] = {}
        with frozen(step.frozen):
            for name in names:
                self.optimizers[name].zero_grad(set_to_none=True)
            with self.runtime.autocast():
                terms = dict(step.compute(batch))
                total = sum(terms.values())
            self.guard.record(number, step.name, terms)
            if self.check_every == 1:
                self.guard.check()
            (scaler.scale(total) if scaler is not None else total).backward()  # type: ignore[union-attr]
            for name in names:
                self._gradients(step, name, scaler, number, logged)
            if self.check_every == 1:
                self.guard.check()
            for name in names:
                if scaler is not None:  # under fp16 the scaler skips steps with inf gradients by design
                    scaler.step(self.optimizers[name])
                else:
                    self.optimizers[name].step()
            if scaler is not None:
                scaler.update()
        logged.update({k: v.detach() for k, v in terms.items()})
        self.term_steps.update(dict.fromkeys(terms, step.name))
        return logged

    def _gradients(self, step: TrainStep, name: str, scaler: Any, number: int, logged: dict[str, Tensor]) -> None:
        """Average one group's gradients across processes, clip them, and record their norm."""
        optimizer, params = self.optimizers[name], self.params[name]
        ddp.all_reduce_gradients(params, self.runtime.dist)
        norm = None
        if self.grad_clip:
            if scaler is not None:
                scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip, foreach=True)
        if scaler is None:  # under fp16 the scaler skips steps with inf gradients by design
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                norm = norm if norm is not None else torch.nn.utils.get_total_norm(grads, foreach=True)
                self.guard.record_gradients(number, step.name, params, norm)
        if norm is not None:  # a signal of the health monitor (inf: a step the fp16 scaler skips)
            logged[f"grad_norm/{name}"] = norm.detach()

    def check_state(self, iteration: int) -> None:
        """Raise, naming the first bad tensor, unless every weight, buffer, weight average and
        optimizer state is finite: what a checkpoint may hold (one wait for the device)."""
        tensors = [(f"weight {n}", t) for n, t in self.method.state_dict(keep_vars=True).items()]
        if self.ema is not None:
            tensors += [(f"weight average {n}", t) for n, t in self.ema.average.state_dict(keep_vars=True).items()]
        for opt_name, opt in self.optimizers.items():
            for param, state in opt.state.items():
                tensors += [(f"optimizer {opt_name}'s {k} of {self.names.get(id(param), '?')}", v)
                            for k, v in state.items() if isinstance(v, Tensor) and v.numel() > 1]
        tensors = [(n, t.detach()) for n, t in tensors if t.is_floating_point()]
        if not tensors:
            return
        finite = torch.stack([torch.isfinite(t).all() for _, t in tensors])
        if bool(finite.all()):
            return
        name = tensors[int((~finite).nonzero()[0])][0]
        raise TrainingError(
            f"{name} is not finite at step {iteration}, so no checkpoint is written; {self.guard.kept()}. "
            "Gradients too large for float32 (huge losses) do this: lower the learning rate or set train.grad_clip.")

    def learning_rates(self) -> dict[str, float]:
        return {f"lr/{n}": o.param_groups[0]["lr"] for n, o in self.optimizers.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
                "scalers": {n: s.state_dict() for n, s in self.scalers.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        for name, scaler in self.scalers.items():
            if name in state.get("scalers", {}):
                scaler.load_state_dict(state["scalers"][name])
        # The rate of the next iteration is the schedule's at the restored one, computed as the
        # scheduler computes it: the saved rate when the run's length is unchanged, the longer
        # schedule's when a resume extends the run (not the finished schedule's last, ~0).
        self.set_base_lrs({n: s.base_lrs for n, s in self.schedulers.items()})

    def base_lrs(self) -> dict[str, list[float]]:
        return {n: list(s.base_lrs) for n, s in self.schedulers.items()}

    def set_base_lrs(self, bases: Mapping[str, Sequence[float]]) -> None:
        """New base rates, which the schedules follow from the current iteration on; the schedulers'
        state holds them, so checkpoints keep them (a health rollback's lowered lr)."""
        for name, sched in self.schedulers.items():
            sched.base_lrs = list(bases[name])
            factor = lr_factor(self.schedule, sched.last_epoch, self.total)
            for group, base in zip(self.optimizers[name].param_groups, sched.base_lrs, strict=True):
                group["initial_lr"], group["lr"] = base, base * factor


class frozen:  # noqa: N801 - reads as a statement: ``with frozen(step.frozen):``
    """No gradient for these modules' parameters inside the block (D during the G step);
    parameters that were already frozen stay so afterwards."""

    def __init__(self, modules: Sequence[nn.Module]):
        self.params = [p for m in modules for p in m.parameters() if p.requires_grad]

    def __enter__(self) -> None:
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for p in self.params:
            p.requires_grad_(True)


def unique(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    """Parameters shared between networks (UNIT's tied layers) must reach an optimizer once."""
    seen: set[int] = set()
    out = []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out
