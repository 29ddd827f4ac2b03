"""The built-in synthetic dataset: textured objects on a textured, unevenly lit background.

Why it looks like it does: a tuning service needs a default dataset on which the
hyperparameters *matter*. Images where a global threshold finds the objects are solved by
any optimizer in two epochs and every trial ties. Here

- objects carry a texture of their own (an oriented grating, or a finer grain than the
  background) and are told apart mainly by that texture;
- their brightness/colour shift is moderate and has a random sign per image, and the
  background carries low-frequency illumination and colour drift larger than that shift,
  so no global threshold separates them;
- distractors (blobs of *background* texture with an object-like brightness shift and
  object-like shapes) punish a model that learned "different brightness = object";
- shapes vary (ellipses, smooth blobs, convex polygons), and a few small objects keep the
  foreground imbalanced (about 5-25 % of the pixels).

Every image ``i`` comes from its own random stream seeded by ``(DATASET_SEED, i)``, so the
pool is fixed for all trials and a pool of 480 images starts with the pool of 240.
Lengths are defined relative to the image side (a 64 px reference), so a larger
``image_size`` renders the same kind of scene at a higher resolution.
"""

from __future__ import annotations

import numpy as np

from tuner.data.pool import allocate

#: fixed seed of the synthetic pool: the pool never depends on a trial's seeds
DATASET_SEED = 20241125
#: lengths below are in pixels of a 64 px image and scale with the image side
REFERENCE_SIZE = 64


def make_synthetic(n: int, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` synthetic pairs of ``size`` px.

    Returns images ``uint8 (n, size, size, 3)``, masks ``uint8 (n, size, size)`` in
    {0, 1} and names ``synthetic_0000 ...``.
    """
    if n < 1 or size < 8:
        raise ValueError(f"make_synthetic needs n >= 1 and size >= 8, got {n}, {size}")
    scene = _Scene(size)
    images = allocate("images", (n, size, size, 3))  # in memory, or the cache's files
    masks = allocate("masks", (n, size, size))
    for i in range(n):
        image, mask = scene.render(np.random.default_rng([DATASET_SEED, i]))
        images[i] = np.round(image * 255)
        masks[i] = mask
    return images, masks, [f"synthetic_{i:04d}" for i in range(n)]


class _Scene:
    """Renders one image at a time; holds the coordinate and frequency grids of ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.scale = size / REFERENCE_SIZE
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        self.ys, self.xs = ys, xs
        fy = np.fft.fftfreq(size)[:, None] * size  # cycles per image side
        fx = np.fft.rfftfreq(size)[None, :] * size
        self.freq = np.sqrt(fy**2 + fx**2).astype(np.float32)

    # -- noise fields -------------------------------------------------------------------
    def band_noise(self, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
        """White noise band-passed to ``[low, high)`` cycles per image side, std 1, (S, S).

        Only the coefficients inside the band are drawn, in the same order at every size,
        so a larger image gets the same field at a finer sampling.
        """
        band = (self.freq >= low) & (self.freq < high)
        count = int(band.sum())  # draw only the coefficients inside the band: fast
        spectrum = np.zeros(self.freq.shape, np.complex64)
        spectrum[band] = rng.standard_normal(count, np.float32) + 1j * rng.standard_normal(
            count, np.float32
        )
        field = np.fft.irfft2(spectrum, s=(self.size, self.size)).astype(np.float32)
        return field / (field.std() + 1e-8)

    def grating(self, rng: np.random.Generator) -> np.ndarray:
        """An oriented sinusoid of period 3.5-5.5 px (at 64 px) with a little jitter, std 1."""
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(3.5, 5.5) * self.scale
        phase = rng.uniform(0, 2 * np.pi)
        warp = 0.8 * self.band_noise(rng, 0.5, 3)  # slow wobble: not a perfect ruler
        u = self.xs * np.cos(theta) + self.ys * np.sin(theta)
        return np.sqrt(2) * np.sin(2 * np.pi * u / period + phase + warp)

    # -- shapes -------------------------------------------------------------------------
    def shape(self, rng: np.random.Generator, radius: float) -> np.ndarray:
        """A random ellipse, smooth blob or convex polygon of about ``radius`` px, bool (S, S)."""
        s = self.size
        cy, cx = rng.uniform(-0.05, 1.05, 2) * s
        # every shape lies within 1.5 radius of its centre: compute inside that box only
        y0, x0 = (max(0, int(c - 1.5 * radius) - 1) for c in (cy, cx))
        y1, x1 = (min(s, int(c + 1.5 * radius) + 2) for c in (cy, cx))
        dy, dx = self.ys[y0:y1, x0:x1] - cy, self.xs[y0:y1, x0:x1] - cx
        kind = rng.integers(3)
        if kind == 0:  # ellipse
            angle = rng.uniform(0, np.pi)
            a, b = radius * rng.uniform(0.9, 1.5), radius * rng.uniform(0.5, 1.0)
            u = dx * np.cos(angle) + dy * np.sin(angle)
            v = -dx * np.sin(angle) + dy * np.cos(angle)
            inside = (u / a) ** 2 + (v / b) ** 2 <= 1
        elif kind == 1:  # blob: radius modulated by a few harmonics (at most 1.45 radius)
            theta = np.arctan2(dy, dx)
            r = np.ones_like(theta)
            for k in range(2, 6):
                r += rng.uniform(0, 0.35 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
            inside = dx**2 + dy**2 <= (radius * r) ** 2
        else:  # convex polygon: intersection of half-planes
            sides = int(rng.integers(3, 8))
            angles = (np.arange(sides) + rng.uniform(-0.15, 0.15, sides)) * 2 * np.pi / sides
            inside = dx**2 + dy**2 <= (1.4 * radius) ** 2  # cuts thin triangles' corners
            for phi in angles + rng.uniform(0, 2 * np.pi):
                inside &= dx * np.cos(phi) + dy * np.sin(phi) <= radius * rng.uniform(0.75, 1.05)
        region = np.zeros((s, s), bool)
        region[y0:y1, x0:x1] = inside
        return region

    # -- the scene ----------------------------------------------------------------------
    def render(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One image float32 (S, S, 3) in [0, 1] and its mask uint8 (S, S) in {0, 1}."""
        s, scale = self.size, self.scale
        base = rng.uniform(0.3, 0.65) + rng.uniform(-0.08, 0.08, 3)  # grey-ish tint
        light = 0.12 * self.band_noise(rng, 0.3, 2.5)  # uneven illumination
        tint = np.stack([0.04 * self.band_noise(rng, 0.3, 2.5) for _ in range(3)], -1)
        bg_band = (rng.uniform(5, 7), rng.uniform(9, 12))  # blotchy background grain
        texture_amp = rng.uniform(0.06, 0.1)
        bg_texture = texture_amp * self.band_noise(rng, *bg_band)
        image = base + (light + bg_texture)[..., None] + tint
        mask = np.zeros((s, s), bool)
        sign = rng.choice([-1.0, 1.0])  # objects brighter or darker: no global threshold

        def shift() -> np.ndarray:  # brightness/colour offset shared by objects and decoys
            return sign * rng.uniform(0.03, 0.08) + rng.uniform(-0.03, 0.03, 3)

        for _ in range(rng.integers(1, 4)):  # distractors: background texture, object shift
            region = self.shape(rng, rng.uniform(4, 9) * scale)
            decoy = texture_amp * self.band_noise(rng, *bg_band)
            image[region] = (base + shift() + tint[region]
                             + (light[region] + decoy[region])[..., None])
        radii = [rng.uniform(6, 12) for _ in range(rng.integers(1, 4))]
        radii += [rng.uniform(3, 4.5) for _ in range(rng.integers(0, 4))]  # small objects
        for radius in radii:
            region = self.shape(rng, radius * scale)
            if rng.random() < 0.6:
                texture = self.grating(rng)
            else:  # a finer grain than the background's
                texture = self.band_noise(rng, 16, 24)
            texture = texture_amp * rng.uniform(1.3, 1.7) * texture
            image[region] = (base + shift() + tint[region]
                             + (light[region] + texture[region])[..., None])
            mask |= region
        image += rng.uniform(0.02, 0.04) * rng.standard_normal(image.shape)
        return np.clip(image, 0, 1).astype(np.float32), mask.astype(np.uint8)
