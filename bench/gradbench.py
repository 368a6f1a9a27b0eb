"""GradBench's bundle-adjustment (`ba`) and hand-tracking (`ht`) objectives, from ADBench, in
wengert and in PyTorch, with data of their shapes. The benchmarks in bench_sparse_scale.py and
the tests in tests/test_sparsity_scale.py use them.

ba: n cameras (11 parameters: rotation, centre, focal length, principal point, radial
distortion), m points, p observations; each observation gives two reprojection residuals of
one camera and one point, weighted, and one weight residual, so the Jacobian has 29 nonzeros
per observation (a reprojection residual reads 10 of the camera's 11 parameters: one coordinate
of the principal point; GradBench's dense 2 x 15 blocks count 31). GradBench's files take one camera, point, weight and feature and repeat them;
here they are drawn at random, and observation i sees camera i mod n and point i mod m, as there.

ht: a hand of 22 bones posed by 26 parameters (global rotation and translation, finger angles),
skinning the vertices of a model; each of c points is compared with a vertex ("simple") or with
a point of a triangle at barycentric coordinates u, which are parameters too ("complicated").
GradBench reads the model from files; here it is drawn at random with the small model's shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import wengert as wg

# GradBench's ba files (n cameras, m points, p observations) and ht point counts.
BA_SIZES = {"ba1": (49, 7776, 31843), "ba5": (257, 65132, 225911), "ba13": (245, 198739, 1091386)}
HT_POINTS = {f"hand{k}": c for k, c in enumerate(
    (100, 192, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 100000), start=1)}


# -- bundle adjustment ----------------------------------------------------------------------
@dataclass(frozen=True)
class BA:
    cams: np.ndarray  # (n, 11)
    points: np.ndarray  # (m, 3)
    weights: np.ndarray  # (p,)
    observed: np.ndarray  # (p, 2): the camera and the point of each observation
    features: np.ndarray  # (p, 2)

    @classmethod
    def random(cls, n: int, m: int, p: int, seed: int = 0) -> BA:
        rng = np.random.default_rng(seed)
        cams = np.concatenate([rng.uniform(-0.1, 0.1, (n, 3)), rng.uniform(-1, 1, (n, 3)),
                               rng.uniform(300, 500, (n, 1)), rng.uniform(-1, 1, (n, 2)),
                               rng.uniform(-1e-3, 1e-3, (n, 2))], axis=1)
        points = rng.uniform(-1, 1, (m, 3)) + [0, 0, 10]
        observed = np.stack([np.arange(p) % n, np.arange(p) % m], axis=1)
        return cls(cams, points, rng.uniform(0.5, 1.5, p), observed, rng.uniform(-100, 100, (p, 2)))

    @property
    def inputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.cams, self.points, self.weights

    def objective(self, cams, points, weights):
        """{"reproj": (p, 2) weighted reprojection errors, "w_err": (p,) 1 - w²}, in wengert."""
        cam = wg.take(cams, self.observed[:, 0], axis=0)
        x = wg.take(points, self.observed[:, 1], axis=0) - cam[:, 3:6]
        rotation = cam[:, 0:3]
        theta = wg.sqrt(wg.sum(rotation * rotation, axis=1, keepdims=True))
        axis = rotation / theta
        cos, sin = wg.cos(theta), wg.sin(theta)
        cross = wg.concatenate([axis[:, 1:2] * x[:, 2:3] - axis[:, 2:3] * x[:, 1:2],
                                axis[:, 2:3] * x[:, 0:1] - axis[:, 0:1] * x[:, 2:3],
                                axis[:, 0:1] * x[:, 1:2] - axis[:, 1:2] * x[:, 0:1]], axis=1)
        along = wg.sum(axis * x, axis=1, keepdims=True) * (1 - cos)
        turned = x * cos + cross * sin + axis * along  # Rodrigues' rotation
        projected = turned[:, 0:2] / turned[:, 2:3]
        r2 = wg.sum(projected * projected, axis=1, keepdims=True)
        distorted = projected * (1 + cam[:, 9:10] * r2 + cam[:, 10:11] * r2 * r2)
        reproj = weights[:, None] * (distorted * cam[:, 6:7] + cam[:, 7:9] - self.features)
        return {"reproj": reproj, "w_err": 1 - weights * weights}

    def torch_objective(self, cams, points, weights):
        """The same, in PyTorch, one tensor of both residuals."""
        import torch

        cam = cams[torch.as_tensor(self.observed[:, 0])]
        x = points[torch.as_tensor(self.observed[:, 1])] - cam[:, 3:6]
        rotation = cam[:, 0:3]
        theta = torch.sqrt(torch.sum(rotation * rotation, dim=1, keepdim=True))
        axis = rotation / theta
        along = torch.sum(axis * x, dim=1, keepdim=True) * (1 - torch.cos(theta))
        turned = x * torch.cos(theta) + torch.linalg.cross(axis, x) * torch.sin(theta) + axis * along
        projected = turned[:, 0:2] / turned[:, 2:3]
        r2 = torch.sum(projected * projected, dim=1, keepdim=True)
        distorted = projected * (1 + cam[:, 9:10] * r2 + cam[:, 10:11] * r2 * r2)
        reproj = weights[:, None] * (distorted * cam[:, 6:7] + cam[:, 7:9] - torch.as_tensor(self.features))
        return torch.cat([reproj.reshape(-1), 1 - weights * weights])


# -- hand tracking --------------------------------------------------------------------------
BONES = 22  # a root, a wrist, and four bones a finger
PARENTS = np.array([-1, 0] + [p for f in range(5) for p in (1, 2 + 4 * f, 3 + 4 * f, 4 + 4 * f)])


def _pose_index() -> np.ndarray:
    """Where each of the 25 x 3 pose parameters comes from in [theta (26), 0, 1]: the global
    rotation, a scale of ones, the translation, then 1 or 2 angles for 3 bones of each finger."""
    zero, one = 26, 27
    rows = [[0, 1, 2], [one] * 3, [3, 4, 5], [zero] * 3, [zero] * 3]
    k = 6
    for _ in range(5):
        rows += [[k, k + 1, zero], [k + 2, zero, zero], [k + 3, zero, zero], [zero] * 3]
        k += 4
    return np.array(rows).ravel()


POSE_INDEX = _pose_index()


@dataclass(frozen=True)
class HT:
    relatives: np.ndarray  # (22, 4, 4) bone transforms at rest, each relative to its parent
    inverse_absolutes: np.ndarray  # (22, 4, 4)
    rest: np.ndarray  # (vertices, 4) homogeneous vertex positions
    weights: np.ndarray  # (vertices, 22)
    triangles: np.ndarray  # (triangles, 3)
    correspondences: np.ndarray  # (c,): a vertex (simple) or a triangle (complicated) per point
    points: np.ndarray  # (c, 3)
    theta: np.ndarray  # (26,)
    us: np.ndarray | None  # (c, 2) barycentric coordinates: "complicated" when given

    @classmethod
    def random(cls, c: int, complicated: bool = True, vertices: int = 544, triangles: int = 1084,
               seed: int = 0) -> HT:
        rng = np.random.default_rng(seed)
        relatives = np.stack([_rigid(rng) for _ in range(BONES)])
        absolutes = []
        for bone, parent in enumerate(PARENTS):
            absolutes.append(relatives[bone] if parent < 0 else absolutes[parent] @ relatives[bone])
        weights = np.zeros((vertices, BONES))
        for v in range(vertices):
            bones = rng.choice(BONES, size=rng.integers(1, 4), replace=False)
            weights[v, bones] = rng.dirichlet(np.ones(bones.size))
        rest = np.concatenate([rng.uniform(-1, 1, (vertices, 3)), np.ones((vertices, 1))], axis=1)
        faces = np.stack([rng.choice(vertices, 3, replace=False) for _ in range(triangles)])
        return cls(relatives, np.linalg.inv(np.stack(absolutes)), rest, weights, faces,
                   rng.integers(0, triangles if complicated else vertices, c), rng.uniform(-1, 1, (c, 3)),
                   rng.uniform(-0.3, 0.3, 26), rng.uniform(0, 0.5, (c, 2)) if complicated else None)

    @property
    def inputs(self) -> tuple[np.ndarray, ...]:
        return (self.theta,) if self.us is None else (self.theta, self.us)

    def objective(self, theta, us=None):
        """The (c, 3) residuals: points minus the posed hand's points, in wengert."""
        pose = wg.reshape(wg.take(wg.concatenate([theta, np.array([0.0, 1.0])]), POSE_INDEX), (25, 3))
        angles = pose[3:]
        cx, cz, cy = wg.cos(angles[:, 0]), wg.cos(angles[:, 1]), wg.cos(angles[:, 2])
        sx, sz, sy = wg.sin(angles[:, 0]), wg.sin(angles[:, 1]), wg.sin(angles[:, 2])
        zero, one = np.zeros(BONES), np.ones(BONES)

        def matrices(*entries):
            return wg.reshape(wg.stack(entries, axis=1), (BONES, 3, 3))
        turned = (matrices(cz, -sz, zero, sz, cz, zero, zero, zero, one)
                  @ matrices(cy, zero, -sy, zero, one, zero, sy, zero, cy)
                  @ matrices(one, zero, zero, zero, cx, -sx, zero, sx, cx))
        posed = self.relatives @ (wg.pad(turned, [(0, 0), (0, 1), (0, 1)]) + np.diag([0.0, 0, 0, 1]))
        absolutes = []
        for bone, parent in enumerate(PARENTS):
            absolutes.append(posed[bone] if parent < 0 else absolutes[parent] @ posed[bone])
        transforms = wg.stack(absolutes) @ self.inverse_absolutes
        moved = wg.reshape(wg.reshape(transforms[:, :3, :], (3 * BONES, 4)) @ self.rest.T,
                           (BONES, 3, self.rest.shape[0]))
        skinned = wg.sum(moved * self.weights.T[:, None, :], axis=0).T
        vertices = skinned @ (_angle_axis(pose[0]) * pose[1]).T + pose[2]
        if us is None:
            return self.points - wg.take(vertices, self.correspondences, axis=0)
        corners = [wg.take(vertices, self.triangles[self.correspondences, k], axis=0) for k in range(3)]
        u, v = us[:, 0:1], us[:, 1:2]
        return self.points - (u * corners[0] + v * corners[1] + (1 - u - v) * corners[2])

    def torch_objective(self, theta, us=None):
        """The same, in PyTorch."""
        import torch

        t = lambda a: torch.as_tensor(a)  # noqa: E731
        pose = torch.cat([theta, t([0.0, 1.0])])[t(POSE_INDEX)].reshape(25, 3)
        angles = pose[3:]
        cx, cz, cy = torch.cos(angles[:, 0]), torch.cos(angles[:, 1]), torch.cos(angles[:, 2])
        sx, sz, sy = torch.sin(angles[:, 0]), torch.sin(angles[:, 1]), torch.sin(angles[:, 2])
        zero, one = torch.zeros(BONES, dtype=theta.dtype), torch.ones(BONES, dtype=theta.dtype)

        def matrices(*entries):
            return torch.stack(entries, dim=1).reshape(BONES, 3, 3)
        turned = (matrices(cz, -sz, zero, sz, cz, zero, zero, zero, one)
                  @ matrices(cy, zero, -sy, zero, one, zero, sy, zero, cy)
                  @ matrices(one, zero, zero, zero, cx, -sx, zero, sx, cx))
        padded = torch.nn.functional.pad(turned, (0, 1, 0, 1)) + t(np.diag([0.0, 0, 0, 1]))
        posed = t(self.relatives) @ padded
        absolutes = []
        for bone, parent in enumerate(PARENTS):
            absolutes.append(posed[bone] if parent < 0 else absolutes[parent] @ posed[bone])
        transforms = torch.stack(absolutes) @ t(self.inverse_absolutes)
        moved = (transforms[:, :3, :].reshape(3 * BONES, 4) @ t(self.rest.T)).reshape(BONES, 3, -1)
        skinned = torch.sum(moved * t(self.weights.T)[:, None, :], dim=0).T
        vertices = skinned @ (_angle_axis(pose[0], torch) * pose[1]).T + pose[2]
        if us is None:
            return t(self.points) - vertices[t(self.correspondences)]
        corners = [vertices[t(self.triangles[self.correspondences, k])] for k in range(3)]
        u, v = us[:, 0:1], us[:, 1:2]
        return t(self.points) - (u * corners[0] + v * corners[1] + (1 - u - v) * corners[2])


def _rigid(rng: np.random.Generator) -> np.ndarray:
    """A random rotation and translation, as a 4 x 4 matrix."""
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = q * np.sign(np.linalg.det(q)), rng.uniform(-0.5, 0.5, 3)
    return out


def _angle_axis(rotation, lib=wg):
    """Rodrigues' rotation matrix of an angle-axis 3-vector (the hand's global rotation)."""
    angle = lib.sqrt(lib.sum(rotation * rotation))
    x, y, z = rotation[0] / angle, rotation[1] / angle, rotation[2] / angle
    s, c = lib.sin(angle), lib.cos(angle)
    rows = [x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s,
            x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s,
            x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c]
    return lib.reshape(lib.stack(rows), (3, 3))
