"""VQ-HPS training throughput (images/s) and inference latency (ms/image) for the demo and paper backbones.

Usage: ``PYTHONPATH=src python benchmarks/bench_vqhps.py [--configs demo hrnet] [--threads 1] [--profile]``.
On a shared 2-core machine ``--threads 1`` is several times faster than two contended threads.
Also printed: the step's FLOPs per image (torch's FlopCounterMode over one forward + backward), the rate it
reaches (GFLOP/s) and that rate as a fraction of a 2048 x 2048 fp32 matmul measured in the same process with
the same threads (the CPU's practical peak for dense work). The ``demo`` config is params.yaml's.
``--profile`` adds where the step's time goes: the forward (with the losses), backward and AdamW shares
of its wall time, and the operators with the largest self CPU time (torch.profiler, one step).
Training step = forward + token CE + rotation MSE + L1 reprojection + backward + AdamW step (the decoded
mesh is not needed for these gradients, as in the paper, so the Mesh-VQ-VAE is not run). Inference = one
forward in eval mode under no_grad, batch 1 (the argmax tokens; decoding is benchmarked with the VQ-VAE).
"""

from __future__ import annotations

import argparse
import time

import torch

from vqhps.losses import reprojection_l1, rotation_mse, token_cross_entropy, weak_perspective_project
from vqhps.models.vqhps import VQHPS, VQHPSConfig, parameter_breakdown


def _demo_config(params: str = "params.yaml") -> dict:
    """The demo's VQ-HPS architecture as params.yaml sets it (image_training + train_vqhps.model)."""
    from vqhps.config import load_params
    from vqhps.infra.configtools import to_plain
    from vqhps.stages.image_training import backbone_fields

    demo = load_params(params).experiment("demo")
    return backbone_fields(demo.image_training) | to_plain(demo.train_vqhps.model)


CONFIGS = {
    # CPU demo: params.yaml's demo.train_vqhps (filled in by main).
    "demo": {},
    # Paper: two HRNet-W48 at 224 px.
    "hrnet": dict(backbone="hrnet_w48", shared_backbone=False, image_size=224),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(device: torch.device, n: int = 2048, iters: int = 5) -> float:
    """GFLOP/s of an n x n fp32 matmul (median of ``iters``), with the process's torch threads."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    times = []
    for _ in range(iters):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / sorted(times)[len(times) // 2] / 1e9


def _training_step(model: VQHPS, batch: int, device: torch.device) -> tuple:
    """(loss_fn, optimizer): the demo's training step on random inputs of ``batch`` images."""
    cfg = model.config
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-3)
    images = torch.randn(batch, 3, cfg.image_size, cfg.image_size, device=device)
    tokens = torch.randint(0, cfg.codebook_size, (batch, cfg.num_tokens), device=device)
    rot = torch.eye(3, device=device).expand(batch, 3, 3)
    joints3d = torch.randn(batch, 17, 3, device=device) * 0.3  # stands in for J(decoded mesh), no grad
    kp = torch.rand(batch, 17, 3, device=device)

    def loss_fn() -> torch.Tensor:
        out = model(images)
        posed = joints3d @ out.rotmat.transpose(1, 2)
        loss = token_cross_entropy(out.logits, tokens) + rotation_mse(out.rot_fit, rot)
        return loss + reprojection_l1(weak_perspective_project(posed, out.cam), kp)

    return loss_fn, opt


def _optimise(loss_fn, opt: torch.optim.Optimizer) -> None:
    """One whole training step: loss, backward, AdamW update."""
    loss = loss_fn()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def train_throughput(
    model: VQHPS, batch: int, iters: int, device: torch.device, flops: list | None = None
) -> float:
    """Images per second over ``iters`` timed steps after one warm-up step (its FLOPs go to ``flops``)."""
    loss_fn, opt = _training_step(model, batch, device)
    model.train()

    def step() -> None:
        _optimise(loss_fn, opt)

    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:  # the warm-up step, counted
        step()
    if flops is not None:
        flops.append(counter.get_total_flops() / batch)
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    return batch * iters / (time.perf_counter() - start)


def step_breakdown(model: VQHPS, batch: int, iters: int, device: torch.device) -> dict[str, float]:
    """Share of the step's wall time in forward (with the losses), backward and the AdamW update."""
    loss_fn, opt = _training_step(model, batch, device)
    model.train()
    totals = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    for i in range(iters + 1):  # the first step warms up, not counted
        marks = [time.perf_counter()]
        loss = loss_fn()
        _sync(device)
        marks.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _sync(device)
        marks.append(time.perf_counter())
        opt.step()
        _sync(device)
        marks.append(time.perf_counter())
        if i:
            for key, t0, t1 in zip(totals, marks[:-1], marks[1:], strict=True):
                totals[key] += t1 - t0
    whole = sum(totals.values())
    return {key: value / whole for key, value in totals.items()}


def top_ops(model: VQHPS, batch: int, device: torch.device, n: int = 6) -> list[tuple[str, float]]:
    """The ``n`` operators with the largest self CPU time over one training step: (name, share of it)."""
    from torch.profiler import ProfilerActivity, profile

    loss_fn, opt = _training_step(model, batch, device)
    model.train()
    loss_fn().backward()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _optimise(loss_fn, opt)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    whole = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / whole) for e in events[:n]]


@torch.no_grad()
def inference_latency_ms(model: VQHPS, iters: int, device: torch.device) -> float:
    """Median milliseconds per image (batch 1, eval mode) over ``iters`` runs after one warm-up."""
    size = model.config.image_size
    image = torch.randn(1, 3, size, size, device=device)
    model.eval()
    model(image)
    times = []
    for _ in range(iters):
        _sync(device)
        start = time.perf_counter()
        model(image).indices.cpu()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--demo-batch", type=int, default=16)
    parser.add_argument("--hrnet-batch", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3, help="timed training steps / inference runs")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--num-tokens", type=int, default=54)
    parser.add_argument("--codebook-size", type=int, default=512)
    parser.add_argument("--profile", action="store_true", help="also: forward/backward/AdamW shares, top ops")
    parser.add_argument("--params", default="params.yaml", help="params file of the demo config")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()}")
    CONFIGS["demo"] = _demo_config(args.params)
    peak = matmul_gflops(device)
    print(f"2048x2048 fp32 matmul: {peak:.1f} GFLOP/s (same process, same threads)")
    for name in args.configs:
        config = VQHPSConfig(num_tokens=args.num_tokens, codebook_size=args.codebook_size, **CONFIGS[name])
        model = VQHPS(config, rest_joints=torch.zeros(17, 3)).to(device)
        params = sum(parameter_breakdown(model).values())
        batch = args.demo_batch if name == "demo" else args.hrnet_batch
        flops: list[float] = []
        ips = train_throughput(model, batch, args.iters, device, flops)
        rate = flops[0] * ips / 1e9
        latency = inference_latency_ms(model, max(args.iters, 3), device)
        print(
            f"{name:6s} backbone={config.backbone} shared={config.shared_backbone} "
            f"size={config.image_size}px "
            f"params={params:,} | train {ips:.2f} images/s (batch {batch}) | inference {latency:.1f} ms/image"
        )
        print(
            f"{'':6s} step {flops[0] / 1e9:.3f} GFLOP/image (fwd+bwd) -> {rate:.1f} GFLOP/s = "
            f"{rate / peak:.2f} of the matmul rate"
        )
        if args.profile:
            parts = step_breakdown(model, batch, args.iters, device)
            print(f"{'':6s} step time: " + ", ".join(f"{k} {v:.0%}" for k, v in parts.items()))
            ops = top_ops(model, batch, device)
            print(f"{'':6s} top ops (self CPU): " + ", ".join(f"{k} {v:.0%}" for k, v in ops))


if __name__ == "__main__":
    main()
