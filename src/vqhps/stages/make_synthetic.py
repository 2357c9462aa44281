"""Stage make_synthetic: Anny meshes standing in for AMASS motions (canonical, centred, seeded).

Poses are sampled within anatomical joint limits on Anny's rig and phenotypes at random; every
mesh has no global rotation and its mean vertex at the origin, exactly as the Mesh-VQ-VAE consumes
them. Output ``meshes/``: ``vertices.npy`` (N, V, 3) float32 metres, ``pose.npy`` (N, P),
``shape.npy`` (N, 6) float32, ``template.npz`` (rest vertices, faces, the fixed 17-joint H36M
regressor of the topology, a garment code per vertex) and ``meta.json``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from tqdm import tqdm

from vqhps.cli import StageContext, stage_main
from vqhps.infra.seeding import stage_seed
from vqhps.io.atomic import atomic_path
from vqhps.io.shards import MeshTopology, write_template


def run(ctx: StageContext) -> dict[str, float]:
    from vqhps.body.anny_body import AnnyBody
    from vqhps.render.garments import anny_garment_labels

    p = ctx.section
    from vqhps.body.joint_regressor import h36m_regressor

    body = AnnyBody(topology=p.topology)
    regressor = h36m_regressor(body)  # fixed (17, V) H36M-joint regressor of this topology, cached
    generator = torch.Generator().manual_seed(stage_seed(ctx.params.seed, "make_synthetic"))
    with atomic_path(ctx.out_dir / "meshes") as tmp:
        tmp.mkdir()
        verts = np.lib.format.open_memmap(
            tmp / "vertices.npy", "w+", np.float32, (p.n_meshes, body.n_vertices, 3)
        )
        poses, shapes = [], []
        bar = tqdm(total=p.n_meshes, desc="anny meshes", unit="mesh", disable=not sys.stderr.isatty())
        for start in range(0, p.n_meshes, p.batch_size):
            n = min(p.batch_size, p.n_meshes - start)
            params = body.sample_parameters(n, generator)
            verts[start : start + n] = body.vertices(params).numpy()
            poses.append(body.flat_pose_vector(params).numpy())
            shapes.append(body.flat_shape_vector(params).numpy())
            bar.update(n)
        bar.close()
        verts.flush()
        del verts
        np.save(tmp / "pose.npy", np.concatenate(poses).astype(np.float32))
        np.save(tmp / "shape.npy", np.concatenate(shapes).astype(np.float32))
        parts = anny_garment_labels(body)  # clothes for render_images (vqhps.render.garments)
        topology = MeshTopology(_np(body.template), _np(body.faces), body.topology_id, regressor, parts)
        write_template(tmp, topology)
        meta = {
            "source": "anny",
            "topology": p.topology,
            "topology_id": body.topology_id,
            "n_meshes": p.n_meshes,
            "n_vertices": body.n_vertices,
            "gender": "neutral",
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {"n_meshes": p.n_meshes, "n_vertices": body.n_vertices}


def _np(x) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def main(argv: list[str] | None = None) -> int:
    return stage_main("make_synthetic", run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
