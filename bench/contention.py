"""The demo fine-tune on a busy machine: tokens/s idle against one core kept busy, in one run.

The quick-demo preset trains the demo base model on the demo brand's photos, as the one-click
run does, for a few steps. "Busy" is the same with one `yes > /dev/null` beside it. Two set-ups:
torch's defaults (a thread per core, OpenMP threads that spin while they wait: the worker
before) and the worker's (`app.threads`: threads sized to the usable cores, a passive wait
policy). Each measurement runs in a fresh process, so that OpenMP reads its environment anew,
and the set-ups alternate. The machine may be shared: the load average is printed beside each
figure (it counts the `yes` too).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.config import settings
from app.threads import cpus_usable, threads_env

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
TRAIN_IMAGES = 60  # about the demo brand's training split


def _setups(also: list[int]) -> dict[str, dict[str, str]]:
    plain = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    return {
        "torch defaults (before)": plain,
        "worker threads (now)": threads_env(setting=settings.WORKER_THREADS, environ=plain),
        **{f"now, WORKER_THREADS={n}": threads_env(setting=n, environ=plain) for n in also},
    }


def _measure(env: dict[str, str], busy: bool, steps: int, seconds: float) -> dict[str, float]:
    """Train in a fresh process with `env`, beside a busy process if `busy`; its figures."""
    hog = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if busy else None
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.contention", "--child", str(steps), str(seconds)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        sys.exit(f"the training process failed:\n{exc.stderr[-2000:]}")
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _train(steps: int, seconds: float) -> dict[str, float]:
    """The quick-demo fine-tune, `steps` steps or `seconds` of training at most; its rate."""
    import torch
    from transformers import TrainerCallback, TrainerControl

    from app.basemodels.models import DEMO_MODEL_SOURCE
    from app.config import ROOT
    from app.demo.catalogue import catalogue
    from app.demo.render import product_render
    from app.runs.settings import settings_resolve
    from worker.data import Example
    from worker.train import qlora_train

    class Deadline(TrainerCallback):  # a slow set-up still ends; tokens/s stays exact
        def on_train_begin(self, args: object, state: object, control: object, **_: object) -> None:
            self.start = time.perf_counter()

        def on_step_end(
            self, args: object, state: object, control: TrainerControl, **_: object
        ) -> None:
            control.should_training_stop = time.perf_counter() - self.start > seconds

    examples = [Example(product_render(p), p.brand_caption) for p in catalogue(TRAIN_IMAGES)]
    s = settings_resolve("quick-demo", {"max_steps": steps, "checkpoint_steps": 10 * steps})
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        result = qlora_train(
            base=str(ROOT / DEMO_MODEL_SOURCE),
            revision=None,
            examples=examples,
            s=s,
            output_dir=Path(tmp),
            callbacks=[Deadline()],
        )
    return {
        "tokens_per_second": result.tokens_per_second,
        "steps": result.steps,
        "seconds": result.wall_seconds,
        "threads": torch.get_num_threads(),
        "load": max(load, os.getloadavg()[0]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench contention", description=__doc__)
    parser.add_argument("--steps", type=int, default=30, help="training steps per measurement")
    parser.add_argument("--seconds", type=float, default=20, help="training time cap per one")
    parser.add_argument("--repeat", type=int, default=2, help="measurements per figure")
    parser.add_argument(
        "--threads", type=int, action="append", default=[], help="also measure this count"
    )
    args = parser.parse_args(argv)

    setups = _setups(args.threads)
    figures: dict[tuple[str, bool], list[dict[str, float]]] = {}
    for _ in range(args.repeat):
        for name, env in setups.items():
            for busy in (False, True):
                figures.setdefault((name, busy), []).append(
                    _measure(env, busy, args.steps, args.seconds)
                )
    _report(figures, list(setups), args)


def _report(
    figures: dict[tuple[str, bool], list[dict[str, float]]],
    names: list[str],
    args: argparse.Namespace,
) -> None:
    def rate(name: str, busy: bool) -> float:
        return statistics.median(f["tokens_per_second"] for f in figures[name, busy])

    def loads(name: str, busy: bool) -> str:
        return "/".join(f"{f['load']:.1f}" for f in figures[name, busy])

    print(
        f"demo fine-tune (quick-demo, {TRAIN_IMAGES} photos, up to {args.steps} steps or "
        f"{args.seconds:.0f} s), {cpus_usable()} usable cores, median of {args.repeat}"
    )
    print("tokens/s: non-padding tokens trained per second; busy: beside one `yes > /dev/null`")
    print(f"{'set-up':<26}{'threads':>8}{'idle tok/s':>11}{'busy tok/s':>11}{'slowdown':>9}  load")
    for name in names:
        idle, busy = rate(name, False), rate(name, True)
        threads = int(figures[name, False][0]["threads"])
        print(
            f"{name:<26}{threads:>8}{idle:>11.0f}{busy:>11.0f}{idle / busy:>8.1f}x  "
            f"idle {loads(name, False)}, busy {loads(name, True)}"
        )
    before, now = names[:2]
    print(f"busy, now against before: {rate(now, True) / rate(before, True):.1f}x the tokens/s")


if __name__ == "__main__":  # a measurement's own process: --child STEPS SECONDS
    print(json.dumps(_train(int(sys.argv[2]), float(sys.argv[3]))))
