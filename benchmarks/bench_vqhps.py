"""VQ-HPS training throughput (images/s) and inference latency (ms/image) for the demo and paper backbones.

Usage: ``PYTHONPATH=src python benchmarks/bench_vqhps.py [--configs demo hrnet] [--threads 1]``.
On a shared 2-core machine ``--threads 1`` is several times faster than two contended threads.
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

CONFIGS = {
    # CPU demo: small CNN, one shared backbone, small crops.
    "demo": dict(backbone="small_cnn", backbone_width=32, shared_backbone=True, image_size=96),
    # Paper: two HRNet-W48 at 224 px.
    "hrnet": dict(backbone="hrnet_w48", shared_backbone=False, image_size=224),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_throughput(model: VQHPS, batch: int, iters: int, device: torch.device) -> float:
    """Images per second over ``iters`` timed steps after one warm-up step."""
    cfg = model.config
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-3)
    images = torch.randn(batch, 3, cfg.image_size, cfg.image_size, device=device)
    tokens = torch.randint(0, cfg.codebook_size, (batch, cfg.num_tokens), device=device)
    rot = torch.eye(3, device=device).expand(batch, 3, 3)
    joints3d = torch.randn(batch, 17, 3, device=device) * 0.3  # stands in for J(decoded mesh), no grad
    kp = torch.rand(batch, 17, 3, device=device)
    model.train()

    def step() -> None:
        out = model(images)
        posed = joints3d @ out.rotmat.transpose(1, 2)
        loss = token_cross_entropy(out.logits, tokens) + rotation_mse(out.rotmat, rot)
        loss = loss + reprojection_l1(weak_perspective_project(posed, out.cam), kp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    return batch * iters / (time.perf_counter() - start)


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
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()}")
    for name in args.configs:
        config = VQHPSConfig(num_tokens=args.num_tokens, codebook_size=args.codebook_size, **CONFIGS[name])
        model = VQHPS(config, rest_joints=torch.zeros(17, 3)).to(device)
        params = sum(parameter_breakdown(model).values())
        batch = args.demo_batch if name == "demo" else args.hrnet_batch
        ips = train_throughput(model, batch, args.iters, device)
        latency = inference_latency_ms(model, max(args.iters, 3), device)
        print(
            f"{name:6s} backbone={config.backbone} shared={config.shared_backbone} "
            f"size={config.image_size}px "
            f"params={params:,} | train {ips:.2f} images/s (batch {batch}) | inference {latency:.1f} ms/image"
        )


if __name__ == "__main__":
    main()
