"""Tests of the Anny wrapper: determinism, joint limits, canonical frame, centring, topologies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vqhps.body.anny_body import (
    PHENOTYPE_LABELS,
    POSE_JOINTS,
    POSE_LIMITS,
    AnnyBody,
    AnnyParams,
    chunk_generator,
    synthesize_chunk,
    to_canonical,
)

TOPOLOGY = "notoes_collapse10pc"


@pytest.fixture(scope="module")
def body() -> AnnyBody:
    return AnnyBody(TOPOLOGY)


def _one_joint(joint: str, component: int, degrees: float) -> AnnyParams:
    pose = torch.zeros(1, len(POSE_JOINTS), 3)
    pose[0, POSE_JOINTS.index(joint), component] = math.radians(degrees)
    return AnnyParams(pose, torch.full((1, len(PHENOTYPE_LABELS)), 0.5))


def test_sampling_is_deterministic_for_a_seed(body):
    a = body.sample_parameters(5, torch.Generator().manual_seed(7))
    b = body.sample_parameters(5, torch.Generator().manual_seed(7))
    c = body.sample_parameters(5, torch.Generator().manual_seed(8))
    assert torch.equal(a.pose, b.pose) and torch.equal(a.phenotype, b.phenotype)
    assert not torch.equal(a.pose, c.pose)
    assert torch.equal(body.vertices(a), body.vertices(b))


def test_samples_stay_within_joint_limits_and_phenotype_ranges(body):
    p = body.sample_parameters(400, torch.Generator().manual_seed(0))
    limits = torch.from_numpy(POSE_LIMITS)
    assert p.pose.shape == (400, len(POSE_JOINTS), 3) and p.pose.dtype == torch.float32
    assert torch.all(p.pose >= limits[..., 0] - 1e-6) and torch.all(p.pose <= limits[..., 1] + 1e-6)
    knee = POSE_JOINTS.index("lowerleg01.L")
    assert p.pose[:, knee, 0].min() >= 0.0 and p.pose[:, knee, 0].max() <= math.radians(100) + 1e-6
    age = p.phenotype[:, PHENOTYPE_LABELS.index("age")]
    assert age.min() >= 0.5 and p.phenotype.min() >= 0.0 and p.phenotype.max() <= 1.0
    # Right-side Euler limits mirror the left ones: same X, negated Y and Z.
    left, right = POSE_JOINTS.index("upperarm01.L"), POSE_JOINTS.index("upperarm01.R")
    np.testing.assert_allclose(POSE_LIMITS[right, 0], POSE_LIMITS[left, 0])
    np.testing.assert_allclose(POSE_LIMITS[right, 1], -POSE_LIMITS[left, 1, ::-1])


def test_canonical_frame_change_is_a_proper_rotation():
    basis = to_canonical(torch.eye(3))  # rows: images of Anny's x, y, z axes
    assert torch.isclose(torch.linalg.det(basis), torch.tensor(1.0))
    assert torch.equal(to_canonical(torch.tensor([0.0, 0.0, 1.0])), torch.tensor([0.0, 1.0, 0.0]))  # up
    assert torch.equal(to_canonical(torch.tensor([0.0, -1.0, 0.0])), torch.tensor([0.0, 0.0, 1.0]))  # facing


def test_meshes_are_centred_upright_and_face_plus_z(body):
    params = body.sample_parameters(16, torch.Generator().manual_seed(1))
    verts, heads = body.forward(params)
    assert verts.shape == (16, body.n_vertices, 3) and verts.dtype == torch.float32
    assert verts.mean(dim=1).abs().max() < 1e-5
    labels = body.bone_labels
    head = heads[:, labels.index("head")]
    feet = torch.maximum(heads[:, labels.index("foot.L"), 1], heads[:, labels.index("foot.R"), 1])
    assert torch.all(head[:, 1] > feet + 0.5)  # +Y up, for every random pose
    eyes = 0.5 * (heads[:, labels.index("eye.L")] + heads[:, labels.index("eye.R")])
    rest_v, rest_h = body.forward(_one_joint("head", 0, 0.0))
    nose_z = 0.5 * (rest_h[0, labels.index("eye.L"), 2] + rest_h[0, labels.index("eye.R"), 2])
    assert nose_z > rest_h[0, labels.index("spine05"), 2] + 0.03  # faces +Z
    assert torch.all(eyes[:, 2] > head[:, 2] - 0.02)  # eyes stay in front of the neck top
    assert rest_h[0, labels.index("upperarm01.L"), 0] > 0.1  # +X is the body's left
    np.testing.assert_allclose(body.template, rest_v[0].numpy(), atol=1e-5)


def test_joint_angle_signs_follow_the_documented_convention(body):
    labels = body.bone_labels
    _, rest = body.forward(_one_joint("head", 0, 0.0))
    _, knee = body.forward(_one_joint("lowerleg01.L", 0, 90.0))
    _, hip = body.forward(_one_joint("upperleg01.R", 0, -60.0))
    _, elbow = body.forward(_one_joint("lowerarm01.L", 0, 90.0))
    foot_l, foot_r, wrist = labels.index("foot.L"), labels.index("foot.R"), labels.index("wrist.L")
    assert knee[0, foot_l, 2] < rest[0, foot_l, 2] - 0.2  # knee flexion: shin swings backward
    assert hip[0, foot_r, 2] > rest[0, foot_r, 2] + 0.3  # hip flexion (-X): leg forward
    assert elbow[0, wrist, 1] > rest[0, wrist, 1] + 0.1  # elbow flexion lifts the hand


def test_batch_size_does_not_change_the_result(body):
    params = body.sample_parameters(7, torch.Generator().manual_seed(2))
    torch.testing.assert_close(body.vertices(params, batch_size=3), body.vertices(params, batch_size=64))


def test_flat_vectors_and_attributes(body):
    params = body.sample_parameters(3, torch.Generator().manual_seed(3))
    assert body.flat_pose_vector(params).shape == (3, 3 * len(POSE_JOINTS))
    torch.testing.assert_close(body.flat_pose_vector(params).reshape(3, -1, 3), params.pose)
    assert body.flat_shape_vector(params).shape == (3, 6)
    assert body.faces.dtype == np.int64 and body.faces.shape[1] == 3
    assert body.faces.min() == 0 and body.faces.max() == body.n_vertices - 1
    assert body.template.shape == (body.n_vertices, 3) and body.template.dtype == np.float32
    assert TOPOLOGY in body.topology_id and "anny-" in body.topology_id


def test_topology_parameter_changes_the_mesh(body):
    smaller = AnnyBody("notoes_collapse5pc")
    assert smaller.n_vertices < body.n_vertices and smaller.topology_id != body.topology_id
    verts = smaller.vertices(smaller.sample_parameters(2, torch.Generator().manual_seed(0)))
    assert verts.shape == (2, smaller.n_vertices, 3)


def test_unknown_topology_is_rejected():
    with pytest.raises(ValueError, match="notoes_collapse10pc"):
        AnnyBody("no-such-topology")


@pytest.mark.slow
def test_default_topology_is_the_full_mesh():
    full = AnnyBody("default")
    assert full.n_vertices == 13718 and full.faces.shape == (27420, 3)


def test_chunks_depend_only_on_seed_and_chunk_index(body):
    p0, v0 = synthesize_chunk(body, seed=3, chunk_index=0, chunk_size=4)
    _, v0_again = synthesize_chunk(body, seed=3, chunk_index=0, chunk_size=4, batch_size=2)
    p1, _ = synthesize_chunk(body, seed=3, chunk_index=1, chunk_size=4)
    p_other, _ = synthesize_chunk(body, seed=4, chunk_index=0, chunk_size=4)
    torch.testing.assert_close(v0, v0_again)
    assert v0.shape == (4, body.n_vertices, 3)
    assert not torch.equal(p0.pose, p1.pose) and not torch.equal(p0.pose, p_other.pose)
    a, b = chunk_generator(0, 1).initial_seed(), chunk_generator(1, 0).initial_seed()
    assert a != b  # (seed, chunk) pairs are not confused
