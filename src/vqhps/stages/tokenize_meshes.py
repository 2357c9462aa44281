"""Stage tokenize_meshes: every mesh of prepare_meshes as a sequence of Mesh-VQ-VAE tokens.

Output ``tokens/``: token shards (one int16 sequence per mesh, the same ids and splits as the mesh
shards) with the reconstruction error ``pve_mm`` (decode(encode(x)) against x) of a seeded sample of
``pve_sample`` meshes per split (NaN for the others; ``pve_sample: null`` decodes every mesh, ~2x slower).
The metrics give each split's mean error and the sample size it is over. The token count and codebook
size come from the checkpoint, never from params.
"""

from __future__ import annotations

import sys

import numpy as np

from vqhps.cli import StageContext, stage_main
from vqhps.infra.seeding import stage_seed
from vqhps.io.atomic import atomic_path
from vqhps.io.schemas import MESHES, SPLITS, TOKENS
from vqhps.io.shards import ShardSet, ShardWriter, fixed_list_tensor


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.metrics import codebook_perplexity, codebook_usage
    from vqhps.models.mesh_vqvae_io import load_mesh_vqvae
    from vqhps.training.parallel_tokenize import ParallelTokenizer
    from vqhps.training.pve_sample import sample_rows, sampled_pve_mm

    p = ctx.section
    model = load_mesh_vqvae(ctx.input("train_mesh_vqvae/model.pt"), ctx.device)
    meshes = ShardSet(ctx.input("prepare_meshes/shards"), MESHES)
    metrics: dict[str, float] = {"n_tokens": model.n_tokens, "codebook_size": model.codebook_size}
    full_decode = p.pve_sample is None
    tokenizer = ParallelTokenizer(
        model, ctx.workers, p.batch_size, ctx.device, errors=full_decode, precision=p.precision
    )
    with atomic_path(ctx.out_dir / "tokens") as tmp, tokenizer:
        writer = ShardWriter(
            tmp,
            TOKENS,
            model.n_tokens,
            p.shard_size,
            meta={"codebook_size": model.codebook_size, "mesh_shards": str(meshes.folder)},
        )
        for split in SPLITS:
            seed = stage_seed(ctx.params.seed, "tokenize_meshes", "pve_sample", split)
            sampled = sample_rows(meshes.num_rows(split), p.pve_sample, seed)
            all_idx, all_err, first = [], [], 0
            for group in meshes.iter_row_groups(split, ["id", "vertices"]):
                verts = fixed_list_tensor(group.column("vertices"), (meshes.size, 3))
                idx, err = tokenizer(verts)
                if not full_decode:
                    rows = sampled[(sampled >= first) & (sampled < first + len(idx))] - first
                    err = sampled_pve_mm(model, verts, idx, rows, p.batch_size, ctx.device, p.precision)
                first += len(idx)
                writer.add(
                    {
                        "id": group.column("id"),
                        "split": [split] * len(idx),
                        "tokens": idx.astype(np.int16),
                        "pve_mm": err.astype(np.float32),
                    }
                )
                all_idx.append(idx)
                all_err.append(err)
            if all_idx:
                idx, err = np.concatenate(all_idx), np.concatenate(all_err)
                measured = err[~np.isnan(err)]
                metrics |= {
                    f"{split}_pve_mm": float(measured.mean()) if len(measured) else float("nan"),
                    f"{split}_pve_sample_size": len(measured),
                    f"{split}_meshes": len(err),
                    f"{split}_perplexity": float(codebook_perplexity(idx, model.codebook_size)),
                    f"{split}_codes_in_use": float(codebook_usage(idx, model.codebook_size)),
                }
        writer.close()
    return metrics


def main(argv: list[str] | None = None) -> int:
    return stage_main("tokenize_meshes", run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
