"""A small video probe for the `shapes` dataset: which colored objects are present, and each one's shape and motion.

Within a `shapes` clip the objects have distinct colors (and distinct shapes), and the backgrounds are gray, so
the probe has one slot per palette color. A fixed front end turns the video into one soft mask per color
(a Gaussian of the RGB distance to that palette color) and reads fixed features off each mask (area and centroid
per frame, `mask_trajectory`; angular harmonics, `mask_harmonics`, whose phase drifts only when a shape turns);
one shared network then reads each mask video with its features and predicts whether an object of that color is
present and, if so, its shape, direction of motion and change (none / grows / shrinks / rotates). It is trained
on clean rendered clips (`probe_train.train_probe`) and gives:

- the class score of videos with class labels (label = shape * 8 + direction of the primary object): the
  fraction of videos where the probe finds that shape moving in that direction;
- the caption score of videos with captions: for each object named in a caption, its shape, color, direction
  and change ("none" when the caption names none), the fraction the probe finds, averaged over videos. This is
  our counterpart of the ViCLIP text-video score on `shapes`;
- what it reads of one named object (`object_reads`: found, shape, direction), and where a clip's objects are
  (`object_pixels`), which split a class score into its parts.

Input: `video [B, 3, T, H, W]` in [-1, 1], any T >= 2 and size (resampled to 9 frames at 64x64).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from videoflextok.data.shapes import CHANGES, COLOR_NAMES, COLORS, DIRECTIONS, SHAPES, ShapesSample

PROBE_FRAMES = 9  # frames the probe looks at (uniformly spaced over the clip)
PROBE_SIZE = 64  # frame size the probe looks at
ATTRIBUTES = {"shape": SHAPES, "direction": DIRECTIONS, "change": CHANGES}  # per-slot categorical heads
SLOTS = COLOR_NAMES  # one slot per palette color
# caption attributes scored by default besides the shape (the probe reads each at >= 98% held-out, see README)
CAPTION_ATTRIBUTES = ("color", "direction", "change")
OBJECT_SATURATION = 0.2  # `object_pixels`: RGB saturation above which a pixel belongs to an object


@dataclass
class ProbeConfig:
    """Size of the probe network."""

    width: int = 8  # channels of the first stage (doubled at each of the next two stages)
    frames: int = PROBE_FRAMES  # frames sampled from each clip
    size: int = PROBE_SIZE  # frames are resized to size x size
    color_sigma: float = 0.12  # width of the color masks (RGB distance on the [0, 1] scale)
    harmonics: tuple[int, ...] = (3, 4, 5)  # orders of the angular-harmonic rotation features (() = none)


def resample_video(video: torch.Tensor, frames: int = PROBE_FRAMES, size: int = PROBE_SIZE) -> torch.Tensor:
    """video: [B, 3, T, H, W] -> [B, 3, frames, size, size] (uniform frame indices, bilinear resize)."""
    t = video.shape[2]
    idx = torch.linspace(0, t - 1, frames, device=video.device).round().long()
    x = video[:, :, idx].float()
    if x.shape[-2:] != (size, size):
        b = x.shape[0]
        x = rearrange(x, "b c t h w -> (b t) c h w")
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = rearrange(x, "(b t) c h w -> b c t h w", b=b)
    return x


def color_masks(video: torch.Tensor, sigma: float) -> torch.Tensor:
    """Soft mask of each palette color. video: [B, 3, T, H, W] in [-1, 1] -> [B, 6, T, H, W] in [0, 1]."""
    palette = torch.tensor([COLORS[c] for c in SLOTS], dtype=video.dtype, device=video.device)  # [6, 3]
    rgb = (video + 1) / 2
    dist2 = ((rgb[:, None] - palette[None, :, :, None, None, None]) ** 2).sum(dim=2)  # [B, 6, T, H, W]
    return torch.exp(-dist2 / (2 * sigma**2))


def mask_trajectory(masks: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Area and centroid of a mask over time. masks: [N, 1, T, H, W] in [0, 1] -> [N, 3T + 3]:
    area (x10) per frame, centroid x and y per frame (in [-1, 1]), then the last-minus-first centroid
    displacement and log area ratio. These make direction and growth easy to read; shape and rotation are left
    to the convolutions."""
    n, _, t, h, w = masks.shape
    m = masks[:, 0]
    mass = m.sum(dim=(2, 3))  # [N, T]
    ys = torch.linspace(-1, 1, h, device=m.device, dtype=m.dtype)
    xs = torch.linspace(-1, 1, w, device=m.device, dtype=m.dtype)
    cx = (m.sum(dim=2) * xs).sum(-1) / (mass + eps)
    cy = (m.sum(dim=3) * ys).sum(-1) / (mass + eps)
    area = mass / (h * w)
    growth = torch.log((area[:, -1] + eps) / (area[:, 0] + eps))
    shift = torch.stack([cx[:, -1] - cx[:, 0], cy[:, -1] - cy[:, 0], growth], dim=1)
    return torch.cat([area * 10, cx, cy, shift], dim=1)


def _cmul(ar: torch.Tensor, ai: torch.Tensor, br: torch.Tensor, bi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ar + i ai) * (br + i bi) on real tensors (no complex dtype, so every device runs it)."""
    return ar * br - ai * bi, ar * bi + ai * br


def mask_harmonics(masks: torch.Tensor, orders: tuple[int, ...] = (3, 4, 5), floor: float = 0.1) -> torch.Tensor:
    """Angular harmonics of a mask over time: the rotation detector. masks: [N, 1, T, H, W] in [0, 1] ->
    [N, len(orders) * 3T] (fixed, no parameters).

    Per frame and order n, the complex moment around the mask's centroid z0, c_n = sum m(x, y) (z - z0)^n with
    z = x + iy, weighs r^n exp(i n theta). A shape with n-fold symmetry (triangle 3, square 4, star 5) has a large
    |c_n|, and turning it by an angle a turns arg(c_n) by n a, while moving, growing or shrinking leave arg(c_n)
    unchanged. (Second moments cannot see this: regular polygons have isotropic covariance.) Made scale-free,
    a_n = c_n / (mass R^n) with R the radius of gyration, then squashed to a_n / (1 + |a_n|) (|a_n| < 1).
    Features per order:
    - |a_n| per frame (T values: how n-fold symmetric the mask is),
    - the step from frame t to t + 1, q_t = a_n(t + 1) conj(a_n(t)): its real part and the absolute value of its
      imaginary part (2(T - 1) values; arg q_t is the phase step, |q_t| how reliable it is),
    - two summaries of the phase steps s_t = arg(q_t) / pi in [-1, 1], weighted by |q_t|: the mean of |s_t| and
      the absolute value of the mean of s_t (the net turn; sign-free, as the spin direction is random).
    A 9-frame clip turns at most 22.5 degrees a step, so even order 5 steps by under 180 degrees (no aliasing).
    Masks are floored (values below `floor` dropped) so faint color leakage far from the object cannot weigh in;
    frames with less than one pixel of mask left have a_n = 0.
    All moments come from one matrix product with the raw moments of z^k (binomial shift to the centroid).
    """
    n_, _, t, h, w = masks.shape
    top = max(orders)
    # float64: shifting raw moments to the centroid cancels digits (float32 errs by ~1e-2 at order 5); MPS lacks it
    dtype = torch.float32 if masks.device.type == "mps" else torch.float64
    m = rearrange(((masks.to(dtype) - floor) / (1 - floor)).clamp(min=0), "n 1 t h w -> (n t) (h w)")
    ys, xs = torch.meshgrid(
        torch.linspace(-1, 1, h, device=m.device, dtype=dtype),
        torch.linspace(-1, 1, w, device=m.device, dtype=dtype),
        indexing="ij",
    )
    zr, zi = xs.flatten(), ys.flatten()
    columns, pr, pi = [torch.ones_like(zr), zr * zr + zi * zi], torch.ones_like(zr), torch.zeros_like(zr)
    for _ in range(top):
        pr, pi = _cmul(pr, pi, zr, zi)
        columns += [pr, pi]
    moments = m @ torch.stack(columns, dim=1)  # [(N T), 2 + 2 top]: mass, sum |z|^2, Re/Im sum z^k
    mass = moments[:, 0].clamp(min=1e-6)
    solid = (mass >= 1).to(dtype)  # under one pixel's worth of mask (no object): all features 0
    one = (torch.ones_like(mass), torch.zeros_like(mass))
    raw = [one] + [(moments[:, 2 * k] / mass, moments[:, 2 * k + 1] / mass) for k in range(1, top + 1)]  # E[z^k]
    z0r, z0i = raw[1]
    gyration = (moments[:, 1] / mass - z0r**2 - z0i**2).clamp(min=1e-8)  # R^2
    shift = [one]  # (-z0)^j
    for _ in range(top):
        shift.append(_cmul(*shift[-1], -z0r, -z0i))
    feats = []
    for n in orders:
        cr, ci = torch.zeros_like(mass), torch.zeros_like(mass)
        for k in range(n + 1):  # E[(z - z0)^n] = sum_k C(n, k) E[z^k] (-z0)^(n - k)
            ur, ui = _cmul(*raw[k], *shift[n - k])
            cr, ci = cr + math.comb(n, k) * ur, ci + math.comb(n, k) * ui
        ar, ai = (rearrange(v * solid / gyration ** (n / 2), "(n t) -> n t", t=t) for v in (cr, ci))
        squash = 1 / (1 + torch.sqrt(ar * ar + ai * ai))
        ar, ai = ar * squash, ai * squash
        qr, qi = _cmul(ar[:, 1:], ai[:, 1:], ar[:, :-1], -ai[:, :-1])  # a(t + 1) conj(a(t)): [N, T - 1]
        weight = torch.sqrt(qr * qr + qi * qi)
        step = torch.atan2(qi, qr) / math.pi
        total = weight.sum(dim=1) + 1e-2
        summary = [(step.abs() * weight).sum(dim=1) / total, ((step * weight).sum(dim=1) / total).abs()]
        feats += [torch.sqrt(ar * ar + ai * ai), qr, qi.abs(), torch.stack(summary, dim=1)]
    return torch.cat(feats, dim=1).to(masks.dtype)


def _block(cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> nn.Sequential:
    pad = tuple(k // 2 for k in kernel)
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, stride, pad), nn.GroupNorm(8, cout), nn.GELU())


class ShapesProbe(nn.Module):
    """Color masks, then a shared network per mask: per-frame 2D stages (64 -> 8 pixels), space-time stages,
    pooling, joined by the fixed mask features (`mask_trajectory`: area and centroid; `mask_harmonics`: rotation),
    then heads.

    forward(video [B, 3, T, H, W] in [-1, 1]) -> {"present": [B, 6], "shape": [B, 6, 4],
    "direction": [B, 6, 8], "change": [B, 6, 4]} logits, slot i = color SLOTS[i].
    """

    def __init__(self, config: ProbeConfig | None = None) -> None:
        super().__init__()
        self.config = config or ProbeConfig()
        w = self.config.width
        self.spatial = nn.Sequential(  # per frame: 64 -> 32 -> 16 -> 8
            _block(3, w, (1, 3, 3), (1, 2, 2)),  # mask + 2 coordinate channels
            _block(w, 2 * w, (1, 3, 3), (1, 2, 2)),
            _block(2 * w, 4 * w, (1, 3, 3), (1, 2, 2)),
        )
        self.temporal = nn.Sequential(  # space-time at 8x8, time halved once
            _block(4 * w, 4 * w, (3, 3, 3), (1, 1, 1)),
            _block(4 * w, 4 * w, (3, 3, 3), (2, 1, 1)),
        )
        self.head_sizes = {"present": 1, **{k: len(v) for k, v in ATTRIBUTES.items()}}
        n_traj = 3 * self.config.frames + 3 + 3 * self.config.frames * len(self.config.harmonics)
        self.head = nn.Sequential(
            nn.Linear(8 * w + n_traj, 128), nn.GELU(), nn.Linear(128, sum(self.head_sizes.values()))
        )

    def slot_masks(self, video: torch.Tensor) -> torch.Tensor:
        """The fixed front end: video [B, 3, T, H, W] in [-1, 1] -> masks [B, 6, frames, size, size] in [0, 1]."""
        return color_masks(resample_video(video, self.config.frames, self.config.size), self.config.color_sigma)

    def slot_logits(self, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        """The network on single color masks: masks [N, 1, frames, size, size] -> {"present": [N], "shape": [N, 4],
        "direction": [N, 8], "change": [N, 4]} logits (training runs it on a subset of the slots)."""
        n, _, t, h, w = masks.shape
        ys = torch.linspace(-1, 1, h, device=masks.device).view(1, 1, 1, h, 1).expand(n, 1, t, h, w)
        xs = torch.linspace(-1, 1, w, device=masks.device).view(1, 1, 1, 1, w).expand(n, 1, t, h, w)
        y = self.temporal(self.spatial(torch.cat([masks, ys, xs], dim=1)))
        pooled = [y.mean(dim=(2, 3, 4)), y.amax(dim=(2, 3, 4)), mask_trajectory(masks)]
        if self.config.harmonics:
            pooled.append(mask_harmonics(masks, self.config.harmonics))
        out = self.head(torch.cat(pooled, dim=1))
        logits = dict(zip(self.head_sizes, out.split(list(self.head_sizes.values()), dim=-1)))
        logits["present"] = logits["present"].squeeze(-1)
        return logits

    def forward(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        masks = self.slot_masks(video)
        logits = self.slot_logits(rearrange(masks, "b k t h w -> (b k) 1 t h w"))
        return {key: value.unflatten(0, masks.shape[:2]) for key, value in logits.items()}

    @torch.no_grad()
    def describe(self, video: torch.Tensor) -> list[dict[str, dict[str, str]]]:
        """Per video, the objects found, keyed by shape: [{"star": {"color": "red", "direction": "up",
        "change": "none"}, ...}, ...] (if two slots claim one shape, the more confident one is kept)."""
        return describe_logits(self(video))


def describe_logits(logits: dict[str, torch.Tensor]) -> list[dict[str, dict[str, str]]]:
    """`ShapesProbe.describe` from the probe's output (`ShapesProbe.forward`), for callers that also need it."""
    found = []
    for i in range(logits["present"].shape[0]):
        objects: dict[str, dict[str, str]] = {}
        for k in logits["present"][i].argsort(descending=True).tolist():
            if logits["present"][i, k] <= 0:
                break
            attrs = {key: names[int(logits[key][i, k].argmax())] for key, names in ATTRIBUTES.items()}
            shape = attrs.pop("shape")
            objects.setdefault(shape, {"color": SLOTS[k], **attrs})
        found.append(objects)
    return found


def object_reads(logits: dict[str, torch.Tensor], objects: list[dict[str, str]]) -> dict[str, torch.Tensor]:
    """What the probe reads of one named object per video, looked up in that object's color slot.

    logits: `ShapesProbe.forward` output for B videos; objects: B dicts with "color", "shape" and "direction"
    (e.g. the first object of `parse_caption`, the primary one). Returns bool [B] tensors: "found" (the slot
    says present), "shape" and "direction" (found and that attribute read right). This splits a class-score miss
    into its parts: the object's color not found at all, or found with the wrong shape or direction.
    """
    if len(objects) != logits["present"].shape[0]:
        raise ValueError(f"Need one object per video, got {len(objects)} for {logits['present'].shape[0]} videos.")
    rows = torch.arange(len(objects), device=logits["present"].device)
    slot = torch.tensor([SLOTS.index(o["color"]) for o in objects], device=rows.device)
    found = logits["present"][rows, slot] > 0
    out = {"found": found}
    for key in ("shape", "direction"):
        want = torch.tensor([ATTRIBUTES[key].index(o[key]) for o in objects], device=rows.device)
        out[key] = found & (logits[key][rows, slot].argmax(-1) == want)
    return out


def object_pixels(video: torch.Tensor, threshold: float = OBJECT_SATURATION) -> torch.Tensor:
    """Where a `shapes` clip shows an object: video [B, 3, T, H, W] in [-1, 1] -> bool [B, T, H, W].

    `shapes` backgrounds are gray (saturation max - min of RGB = 0) and every palette color has saturation >= 0.6,
    so pixels with saturation above `threshold` (on the [0, 1] scale), grown by one pixel to take in the
    antialiased edge, are the objects. Computed on the original clip, it splits a reconstruction's error into
    object and background parts.
    """
    rgb = (video.float() + 1) / 2
    colored = (rgb.amax(dim=1) - rgb.amin(dim=1)) > threshold  # [B, T, H, W]
    grown = F.max_pool3d(colored[:, None].float(), kernel_size=(1, 3, 3), stride=1, padding=(0, 1, 1))
    return grown[:, 0] > 0


def probe_targets(samples: list[ShapesSample]) -> dict[str, torch.Tensor]:
    """Ground truth of clips for the probe: "present" [B, 6] float, "shape"/"direction"/"change" [B, 6] long
    (-100, the ignore index, where no object has that color)."""
    n = len(samples)
    out = {"present": torch.zeros(n, len(SLOTS))}
    out.update({k: torch.full((n, len(SLOTS)), -100, dtype=torch.long) for k in ATTRIBUTES})
    for i, sample in enumerate(samples):
        for obj in sample.objects:
            k = SLOTS.index(obj.color)
            out["present"][i, k] = 1.0
            for key, names in ATTRIBUTES.items():
                out[key][i, k] = names.index(getattr(obj, key))
    return out


def probe_loss(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Binary cross-entropy on presence plus cross-entropy of each attribute on the present slots.
    Shapes as `ShapesProbe.forward` ([B, 6] and [B, 6, C]) or `slot_logits` ([N] and [N, C])."""
    loss = F.binary_cross_entropy_with_logits(logits["present"], targets["present"])
    for key in ATTRIBUTES:
        flat = logits[key].reshape(-1, logits[key].shape[-1])
        loss = loss + F.cross_entropy(flat, targets[key].reshape(-1), ignore_index=-100)
    return loss


_CAPTION_OBJECT = re.compile(
    rf"\ban? ({'|'.join(COLOR_NAMES)}) ({'|'.join(SHAPES)}) moves ({'|'.join(DIRECTIONS)})"
    rf"(?: and ({'|'.join(c for c in CHANGES if c != 'none')}))?(?=\s|$)"
)


def parse_caption(caption: str) -> list[dict[str, str]]:
    """Objects named in a `shapes` caption: [{"shape", "color", "direction", "change"}, ...] (empty if none)."""
    return [
        {"color": m[1], "shape": m[2], "direction": m[3], "change": m[4] or "none"}
        for m in _CAPTION_OBJECT.finditer(caption)
    ]


def caption_score(
    found: list[dict[str, dict[str, str]]],
    captions: list[str],
    attributes: tuple[str, ...] = CAPTION_ATTRIBUTES,
) -> float:
    """Mean over videos of the fraction of caption attributes the probe found.

    Per object named in a caption: its shape (found when the probe sees that shape) plus `attributes` of it
    (default color, direction and change; pass a subset to score fewer).
    found: `ShapesProbe.describe` output; videos whose caption names no object are skipped.
    """
    unknown = set(attributes) - {"color", "direction", "change"}
    if unknown:
        raise ValueError(f"Unknown caption attributes {sorted(unknown)}; use color, direction, change.")
    scores = []
    for objects, caption in zip(found, captions, strict=True):
        wanted = parse_caption(caption)
        if not wanted:
            continue
        hits = 0
        for obj in wanted:
            seen = objects.get(obj["shape"])
            if seen is not None:
                hits += 1 + sum(seen[k] == obj[k] for k in attributes)
        scores.append(hits / ((1 + len(attributes)) * len(wanted)))
    if not scores:
        raise ValueError("No caption names a shapes object; the caption score is undefined.")
    return sum(scores) / len(scores)


def class_score(found: list[dict[str, dict[str, str]]], labels: list[int] | torch.Tensor) -> float:
    """Fraction of videos where the probe finds the label's shape moving in the label's direction.

    label = SHAPES.index(shape) * 8 + DIRECTIONS.index(direction) (the `shapes` class labels).
    """
    labels = [int(x) for x in labels]
    if len(labels) != len(found) or not labels:
        raise ValueError(f"Need one label per video, got {len(labels)} labels for {len(found)} videos.")
    hits = 0
    for objects, label in zip(found, labels):
        shape, direction = SHAPES[label // len(DIRECTIONS)], DIRECTIONS[label % len(DIRECTIONS)]
        hits += shape in objects and objects[shape]["direction"] == direction
    return hits / len(labels)
