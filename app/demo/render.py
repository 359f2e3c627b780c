"""Studio photos of the demo catalogue's products, drawn with Pillow.

`product_render` draws a product's silhouette in a unit square, fills it with its colour, pattern
and material, lights it and sets it on a seamless backdrop; the same product always gives the
same pixels.
"""

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from app.demo.catalogue import COLOUR_RGB, Product

RGB = tuple[int, int, int]
RGBA = tuple[int, int, int, int]
Point = tuple[float, float]

# Draw at twice the size and reduce: smooth edges at a fraction of the cost of anti-aliasing.
_SUPERSAMPLE = 2
# Blurs (relief, sheen, shadow) are computed at a quarter of the canvas: they are soft anyway.
_SOFT = 4
_GOLD: RGBA = (206, 170, 98, 255)
_IVORY_INK: RGB = (246, 240, 226)
_NOIR_INK: RGB = (34, 30, 32)


@dataclass(frozen=True)
class _Frame:
    """Maps the unit square a shape is drawn in to canvas pixels."""

    side: int
    cx: float
    cy: float
    scale: float

    def p(self, x: float, y: float) -> Point:
        """A unit-square point in pixels."""
        k = self.scale * self.side
        return (self.cx + (x - 0.5) * k, self.cy + (y - 0.5) * k)

    def pts(self, points: list[Point]) -> list[Point]:
        """Unit-square points in pixels."""
        return [self.p(x, y) for x, y in points]

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        """A unit-square box in pixels."""
        return (*self.p(x0, y0), *self.p(x1, y1))

    def w(self, width: float) -> int:
        """A unit-square length in whole pixels, at least one."""
        return max(1, round(width * self.scale * self.side))


@dataclass(frozen=True)
class _Sketch:
    """Where a shape draws: its silhouette, the parts behind it and the details on top."""

    mask: ImageDraw.ImageDraw  # the body, later filled with the material
    under: ImageDraw.ImageDraw  # parts behind the body, e.g. a tote's far handle
    over: ImageDraw.ImageDraw  # seams, bindings and hardware
    f: _Frame
    colour: RGB
    material: str

    @property
    def seam(self) -> RGBA:
        """A darker shade of the colour, for edges and stitching."""
        return (*_mix(self.colour, (0, 0, 0), 0.45), 255)

    @property
    def stitch(self) -> RGBA:
        """Thread colour: light on dark leathers, dark on light ones."""
        return (*_contrast(self.colour, 0.45), 230)


def product_render(product: Product, *, size: int = 256) -> Image.Image:
    """A studio photo of the product, the same pixels for the same product and size."""
    rng = random.Random(product.seed)
    side = size * _SUPERSAMPLE
    f = _Frame(
        side,
        cx=side * (0.5 + rng.uniform(-0.03, 0.03)),
        cy=side * (0.5 + rng.uniform(-0.03, 0.03)),
        scale=rng.uniform(0.9, 1.02),
    )
    mask = Image.new("L", (side, side), 0)
    under = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    over = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    colour = COLOUR_RGB[product.colour]
    sketch = _Sketch(
        ImageDraw.Draw(mask),
        ImageDraw.Draw(under),
        ImageDraw.Draw(over),
        f,
        colour,
        product.material,
    )
    _SHAPES[product.kind](sketch)
    body = _surface(product, mask, f, rng)
    under.alpha_composite(Image.merge("RGBA", (*body.split(), mask)))
    under.alpha_composite(over)
    subject = _pose(under, product.kind, rng)
    photo = _studio(side, rng)
    photo = _drop_shadow(photo, subject.getchannel("A"), side)
    photo.alpha_composite(subject)
    return photo.convert("RGB").reduce(_SUPERSAMPLE)


def _pose(subject: Image.Image, kind: str, rng: random.Random) -> Image.Image:
    """Turn the subject a little (a scarf or a belt more) and mirror some of them."""
    spread = {"scarf": 12.0, "belt": 10.0}.get(kind, 4.0)
    angle = rng.uniform(-spread, spread)
    if kind in ("pump", "loafer", "belt") and rng.random() < 0.5:
        subject = subject.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    # Turning only the subject's bounding box, about its own centre, costs a third as much.
    left, top, right, bottom = subject.getbbox() or (0, 0, *subject.size)
    turned = subject.crop((left, top, right, bottom)).rotate(
        angle, Image.Resampling.BILINEAR, expand=True
    )
    posed = Image.new("RGBA", subject.size, (0, 0, 0, 0))
    posed.paste(
        turned,
        (round((left + right - turned.width) / 2), round((top + bottom - turned.height) / 2)),
    )
    return posed


# Colour helpers --------------------------------------------------------------------------------


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    """The colour t of the way from a to b."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _luma(c: RGB) -> float:
    """Perceived brightness, 0-255."""
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _contrast(c: RGB, t: float) -> RGB:
    """A colour that reads on c: towards ink black on light colours, ivory on dark ones."""
    return _mix(c, _NOIR_INK, t) if _luma(c) > 150 else _mix(c, _IVORY_INK, t)


def _centred(image: Image.Image, contrast: float) -> Image.Image:
    """An L image's deviation from mid-grey scaled, so that 128 stays neutral in an overlay."""
    return image.point(lambda v: max(0, min(255, round(128 + (v - 128) * contrast))))


# Surfaces: colour, pattern, material, light -----------------------------------------------------


def _surface(product: Product, mask: Image.Image, f: _Frame, rng: random.Random) -> Image.Image:
    """The body's RGB: colour, then pattern, material texture, relief and light."""
    side = f.side
    body = Image.new("RGB", (side, side), COLOUR_RGB[product.colour])
    _PATTERNS[product.pattern](body, f, _pattern_ink(product), product.kind)
    # Grain and key light both sit on mid-grey, so one overlay applies their sum.
    texture = _TEXTURES[product.material](rng, side)
    shading = ImageChops.add(texture, _light(side, rng), offset=-128)
    body = ImageChops.overlay(body, shading.convert("RGB"))
    body = ImageChops.multiply(body, _relief(mask, side))
    if product.material in ("patent calfskin", "silk twill"):
        sheen = _sheen(mask, f, rng, glossy=product.material == "patent calfskin")
        body = ImageChops.screen(body, sheen.convert("RGB"))
    return body


def _pattern_ink(product: Product) -> RGB:
    """The colour a pattern is printed in: contrasting, and gilded for the monogram."""
    colour = COLOUR_RGB[product.colour]
    if product.pattern == "monogram" and _luma(colour) < 150:
        return _mix(colour, (226, 196, 132), 0.75)
    return _contrast(colour, 0.7)


def _noise(rng: random.Random, side: int, cell: int, contrast: float) -> Image.Image:
    """Seeded grain with blobs about `cell` pixels wide, centred on mid-grey."""
    n = max(2, side // cell)
    small = Image.frombytes("L", (n, n), rng.randbytes(n * n))
    return _centred(small.resize((side, side), Image.Resampling.BICUBIC), contrast)


def _two_scales(
    rng: random.Random, side: int, cells: tuple[int, int], contrast: float
) -> Image.Image:
    """Fine grain over a softer mottle (leather pebble, suede nap, cashmere heather)."""
    fine, coarse = cells
    return Image.blend(_noise(rng, side, fine, contrast), _noise(rng, side, coarse, contrast), 0.5)


def _lines(side: int, period: int, dark: int, light: int, horizontal: bool) -> Image.Image:
    """Parallel one-pixel lines, alternating dark and light."""
    values = [dark if i % period < period // 2 else light for i in range(side)]
    strip = Image.new("L", (1, side) if horizontal else (side, 1))
    strip.putdata(values)
    return strip.resize((side, side), Image.Resampling.NEAREST)


def _weave(rng: random.Random, side: int) -> Image.Image:
    """Canvas: warp and weft crossing, with a little grain."""
    grid = Image.blend(_lines(side, 6, 108, 150, True), _lines(side, 6, 112, 146, False), 0.5)
    return Image.blend(grid, _noise(rng, side, 3, 0.5), 0.35)


def _twill(rng: random.Random, side: int) -> Image.Image:
    """Silk twill: fine diagonal ribs."""
    image = Image.new("L", (side, side), 124)
    draw = ImageDraw.Draw(image)
    for x in range(0, 2 * side, 5):
        draw.line([(x, 0), (x - side, side)], fill=142, width=2)
    return Image.blend(image, _noise(rng, side, 4, 0.3), 0.3)


_TEXTURES: dict[str, Callable[[random.Random, int], Image.Image]] = {
    "calfskin": lambda rng, side: _two_scales(rng, side, (3, 14), 0.32),
    "patent calfskin": lambda rng, side: Image.new("L", (side, side), 128),  # lacquer: no grain
    "suede": lambda rng, side: _two_scales(rng, side, (2, 10), 0.45),
    "cashmere": lambda rng, side: _two_scales(rng, side, (2, 16), 0.5),
    "canvas": _weave,
    "silk twill": _twill,
}


def _relief(mask: Image.Image, side: int) -> Image.Image:
    """Darken the body towards its edges so that it reads as rounded, not cut out."""
    soft = mask.reduce(_SOFT).filter(ImageFilter.GaussianBlur(side / _SOFT / 30))
    shade = soft.point(lambda v: round(255 * (0.55 + 0.45 * min(1.0, v / 200))))
    return shade.resize((side, side), Image.Resampling.BILINEAR).convert("RGB")


def _light(side: int, rng: random.Random) -> Image.Image:
    """Key light from the upper left, its angle a little different on every shot."""
    return _light_ramp(side, rng.randint(25, 50))


@functools.lru_cache(maxsize=64)
def _light_ramp(side: int, degrees: int) -> Image.Image:
    """The key light for a size and angle (cached: whole degrees are plenty of variety)."""
    # The gradient runs from dark at the top to light at the bottom: inverted and turned
    # anticlockwise it brightens the upper left. The crop drops the corners the turn empties.
    ramp = ImageChops.invert(Image.linear_gradient("L"))
    ramp = ramp.rotate(degrees, Image.Resampling.BILINEAR).crop((40, 40, 216, 216))
    return _centred(ramp.resize((side, side), Image.Resampling.BILINEAR), 0.35)


def _sheen(mask: Image.Image, f: _Frame, rng: random.Random, glossy: bool) -> Image.Image:
    """Specular light: patent catches a bright rim and streaks, silk a broad soft glow."""
    n = f.side // _SOFT
    if glossy:
        # The rim is the silhouette less itself moved down a little: the top-facing edges.
        outline = mask.reduce(_SOFT)
        lowered = ImageChops.offset(outline, 0, max(1, n // 60))
        small = ImageChops.subtract(outline, lowered).point(lambda v: v * 3 // 4)
        streaks = [((0.0, 0.0, 0.18, 0.014), 170), ((0.22, 0.0, 0.27, 0.014), 130)]
        blur = n / 250
    else:
        small = Image.new("L", (n, n), 0)
        streaks = [((-0.1, -0.1, 0.3, 0.12), 70)]
        blur = n / 12
    x0, y0 = rng.uniform(0.3, 0.4), rng.uniform(0.43, 0.47)
    draw = ImageDraw.Draw(small)
    for (left, top, right, bottom), value in streaks:
        box = f.box(x0 + left, y0 + top, x0 + right, y0 + bottom)
        draw.ellipse([v / _SOFT for v in box], fill=value)
    small = small.filter(ImageFilter.GaussianBlur(blur))
    return small.resize((f.side, f.side), Image.Resampling.BILINEAR)


# Patterns, drawn over the whole canvas and clipped by the silhouette ---------------------------


def _plain(body: Image.Image, f: _Frame, ink: RGB, kind: str) -> None:
    """No pattern."""


def _striped(body: Image.Image, f: _Frame, ink: RGB, kind: str) -> None:
    """Even bands: across a belt, hat or long scarf, down anything else."""
    draw = ImageDraw.Draw(body)
    period, band = f.w(0.07), f.w(0.026)
    for start in range(-period, f.side + period, period):
        if kind in ("belt", "hat", "scarf"):
            draw.rectangle((0, start, f.side, start + band), fill=ink)
        else:
            draw.rectangle((start, 0, start + band, f.side), fill=ink)


def _grid(f: _Frame, step: int) -> list[tuple[int, float, float]]:
    """Staggered motif centres covering the canvas, with their row-and-column parity."""
    centres = []
    for row, y in enumerate(range(-step, f.side + step, step)):
        offset = step / 2 if row % 2 else 0
        for col, x in enumerate(range(-step, f.side + step, step)):
            centres.append(((row + col) % 2, x + offset, float(y)))
    return centres


def _monogram(body: Image.Image, f: _Frame, ink: RGB, kind: str) -> None:
    """The house motif: diamonds alternating with four-petal flowers."""
    draw = ImageDraw.Draw(body)
    step = f.w(0.085)
    r = step * 0.2
    for parity, x, y in _grid(f, step):
        if parity:
            draw.polygon([(x, y - r), (x + r * 0.7, y), (x, y + r), (x - r * 0.7, y)], fill=ink)
        else:
            for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0)):
                px, py = x + dx * r * 0.5, y + dy * r * 0.5
                draw.ellipse((px - r * 0.42, py - r * 0.42, px + r * 0.42, py + r * 0.42), fill=ink)


def _polka_dot(body: Image.Image, f: _Frame, ink: RGB, kind: str) -> None:
    """Round dots on a staggered grid."""
    draw = ImageDraw.Draw(body)
    step = f.w(0.08)
    r = step * 0.2
    for _, x, y in _grid(f, step):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)


def _chevron(body: Image.Image, f: _Frame, ink: RGB, kind: str) -> None:
    """Zigzag bands."""
    draw = ImageDraw.Draw(body)
    step = f.w(0.08)
    xs = range(-step, f.side + step, max(1, step // 2))
    for y in range(-step, f.side + step, step):
        points = [(x, y + (step * 0.5 if i % 2 else 0)) for i, x in enumerate(xs)]
        draw.line(points, fill=ink, width=max(1, round(step * 0.3)), joint="curve")


def _houndstooth(body: Image.Image, f: _Frame, ink: RGB, kind: str) -> None:
    """Houndstooth, woven the way the cloth is: 4 dark and 4 light threads in a 2/2 twill."""
    px = f.w(0.012)
    n = f.side // px + 1
    # A pixel shows the warp thread where the twill lifts it, the weft thread elsewhere.
    bits = [
        255 if ((x % 8 < 4) if (x + y) % 4 < 2 else (y % 8 < 4)) else 0
        for y in range(n)
        for x in range(n)
    ]
    small = Image.new("L", (n, n))
    small.putdata(bits)
    weave = small.resize((n * px, n * px), Image.Resampling.NEAREST)
    body.paste(ink, (0, 0, f.side, f.side), weave.crop((0, 0, f.side, f.side)))


_PATTERNS: dict[str, Callable[[Image.Image, _Frame, RGB, str], None]] = {
    "plain": _plain,
    "striped": _striped,
    "monogram": _monogram,
    "houndstooth": _houndstooth,
    "polka dot": _polka_dot,
    "chevron": _chevron,
}


# The studio --------------------------------------------------------------------------------------


def _studio(side: int, rng: random.Random) -> Image.Image:
    """A light seamless backdrop, a touch warmer or cooler on each shot."""
    return _backdrop(side, rng.randint(-3, 3)).copy()


@functools.lru_cache(maxsize=32)
def _backdrop(side: int, warmth: int) -> Image.Image:
    """The backdrop for a size and warmth (cached: it is the same for many shots)."""
    top = Image.new("RGBA", (side, side), (246 + min(0, warmth), 244, 240 - warmth, 255))
    bottom = Image.new("RGBA", (side, side), (226, 223, 218 - warmth, 255))
    ramp = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
    return Image.composite(bottom, top, ramp)


def _drop_shadow(photo: Image.Image, alpha: Image.Image, side: int) -> Image.Image:
    """A soft shadow below and right of the subject, as from a high key light."""
    n = side // _SOFT
    small = alpha.reduce(_SOFT)
    shadow = Image.new("L", (n, n), 0)
    shadow.paste(small, (round(n * 0.015), round(n * 0.03)))
    shadow = shadow.filter(ImageFilter.GaussianBlur(n / 45))
    shadow = shadow.point(lambda v: round(v * 0.42))
    shadow = shadow.resize((side, side), Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGBA", (side, side), (70, 62, 56, 255)), photo, shadow)


# Silhouettes, in a unit square: x to the right, y down, the product about 0.15-0.85 ----------


def _bezier(*controls: Point, steps: int = 14) -> list[Point]:
    """Points along the Bézier curve with these control points."""
    points = []
    for i in range(steps + 1):
        t, layer = i / steps, list(controls)
        while len(layer) > 1:
            layer = [
                (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) for a, b in pairwise(layer)
            ]
        points.append(layer[0])
    return points


def _dashed(draw: ImageDraw.ImageDraw, points: list[Point], fill: RGBA, width: int) -> None:
    """A stitch line: short dashes along a polyline (pixel points)."""
    dash = width * 3
    for (x0, y0), (x1, y1) in pairwise(points):
        length = max(1.0, ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)
        for start in range(0, int(length), dash * 2):
            a, b = start / length, min(1.0, (start + dash) / length)
            draw.line(
                [
                    (x0 + (x1 - x0) * a, y0 + (y1 - y0) * a),
                    (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b),
                ],
                fill=fill,
                width=width,
            )


def _rivet(s: _Sketch, x: float, y: float, r: float = 0.009) -> None:
    """A small gilt rivet."""
    s.over.ellipse(s.f.box(x - r, y - r, x + r, y + r), fill=_GOLD)


def _tote(s: _Sketch) -> None:
    """A tote: a tapering body and two rolled handles."""
    f, handle = s.f, s.f.w(0.028)
    far = (*_mix(s.colour, (0, 0, 0), 0.3), 255)
    s.under.arc(f.box(0.36, 0.16, 0.68, 0.64), 180, 360, fill=far, width=handle)
    s.mask.arc(f.box(0.32, 0.19, 0.64, 0.65), 180, 360, fill=255, width=handle)
    body = [(0.27, 0.41), (0.73, 0.41), (0.79, 0.79), (0.75, 0.82), (0.25, 0.82), (0.21, 0.79)]
    s.mask.polygon(f.pts(body), fill=255)
    s.over.line(f.pts([(0.27, 0.41), (0.73, 0.41)]), fill=s.seam, width=f.w(0.016))
    _dashed(s.over, f.pts([(0.28, 0.44), (0.72, 0.44)]), s.stitch, f.w(0.004))
    for x in (0.32 + 0.014, 0.64 - 0.014):
        s.over.rounded_rectangle(f.box(x - 0.022, 0.40, x + 0.022, 0.48), f.w(0.008), fill=s.seam)
        _rivet(s, x, 0.455)
    s.over.line(f.pts([(0.3, 0.42), (0.26, 0.81)]), fill=(0, 0, 0, 50), width=f.w(0.006))
    s.over.line(f.pts([(0.7, 0.42), (0.74, 0.81)]), fill=(0, 0, 0, 50), width=f.w(0.006))


def _clutch(s: _Sketch) -> None:
    """An envelope clutch: a flat rounded body, a pointed flap and a clasp."""
    f = s.f
    s.mask.rounded_rectangle(f.box(0.16, 0.36, 0.84, 0.68), f.w(0.04), fill=255)
    flap = [(0.16, 0.38), (0.84, 0.38), (0.5, 0.6)]
    s.over.polygon(f.pts(flap), fill=(0, 0, 0, 28))
    s.over.line(f.pts([(0.17, 0.385), (0.5, 0.6), (0.83, 0.385)]), fill=s.seam, width=f.w(0.008))
    _dashed(s.over, f.pts([(0.2, 0.66), (0.8, 0.66)]), s.stitch, f.w(0.004))
    s.over.rounded_rectangle(f.box(0.47, 0.57, 0.53, 0.625), f.w(0.01), fill=_GOLD)


def _scarf(s: _Sketch) -> None:
    """A silk carré laid flat with a printed border, or a long fringed cashmere scarf."""
    f = s.f
    if s.material == "cashmere":
        s.mask.rectangle(f.box(0.33, 0.16, 0.67, 0.84), fill=255)
        fringe = (*_mix(s.colour, (255, 255, 255), 0.08), 255)
        for i in range(23):
            x = 0.335 + i * 0.0148
            s.over.line(f.pts([(x, 0.84), (x, 0.885)]), fill=fringe, width=f.w(0.006))
            s.over.line(f.pts([(x, 0.115), (x, 0.16)]), fill=fringe, width=f.w(0.006))
        s.over.line(f.pts([(0.5, 0.16), (0.5, 0.84)]), fill=(0, 0, 0, 30), width=f.w(0.01))
        return
    s.mask.rectangle(f.box(0.19, 0.19, 0.81, 0.81), fill=255)
    border = (*_contrast(s.colour, 0.35), 255)
    s.over.rectangle(f.box(0.19, 0.19, 0.81, 0.81), outline=border, width=f.w(0.035))
    s.over.rectangle(f.box(0.24, 0.24, 0.76, 0.76), outline=border, width=f.w(0.006))


def _pump(s: _Sketch) -> None:
    """A pump in profile: pointed toe on the left, stiletto heel on the right."""
    f = s.f
    vamp = _bezier((0.08, 0.745), (0.1, 0.66), (0.28, 0.615), (0.44, 0.63))
    topline = _bezier((0.44, 0.635), (0.6, 0.665), (0.73, 0.58), (0.79, 0.45))
    sole = _bezier(
        (0.805, 0.57), (0.68, 0.6), (0.55, 0.73), (0.38, 0.785), (0.16, 0.79), (0.08, 0.745)
    )
    s.mask.polygon(f.pts([*vamp, *topline, (0.805, 0.455), *sole]), fill=255)
    s.mask.polygon(f.pts([(0.74, 0.585), (0.805, 0.565), (0.79, 0.865), (0.777, 0.865)]), fill=255)
    s.over.line(f.pts(sole), fill=s.seam, width=f.w(0.01))
    s.over.polygon(f.pts([(0.776, 0.85), (0.791, 0.85), (0.792, 0.87), (0.775, 0.87)]), fill=s.seam)
    # Through the opening one sees the lining of the far side.
    inside = _bezier((0.78, 0.5), (0.72, 0.62), (0.58, 0.69), (0.47, 0.648))
    lining = (*_mix(s.colour, (236, 220, 200), 0.6), 255)
    s.over.polygon(f.pts([*topline[2:], *inside]), fill=lining)


def _loafer(s: _Sketch) -> None:
    """A penny loafer in profile: moccasin toe, a strap across the instep, a stacked heel."""
    f = s.f
    vamp = _bezier((0.1, 0.71), (0.09, 0.6), (0.22, 0.56), (0.36, 0.55), (0.5, 0.545), (0.57, 0.57))
    topline = _bezier((0.57, 0.57), (0.7, 0.6), (0.8, 0.585), (0.87, 0.55))
    s.mask.polygon(f.pts([*vamp, *topline, (0.885, 0.6), (0.885, 0.72), (0.12, 0.72)]), fill=255)
    inside = _bezier((0.86, 0.57), (0.78, 0.61), (0.68, 0.62), (0.58, 0.58))
    lining = (*_mix(s.colour, (236, 220, 200), 0.5), 255)
    s.over.polygon(f.pts([*topline[3:], *inside]), fill=lining)
    sole = (*_mix(s.colour, (20, 16, 14), 0.7), 255)
    s.over.rounded_rectangle(f.box(0.09, 0.71, 0.89, 0.745), f.w(0.012), fill=sole)
    s.over.rectangle(f.box(0.73, 0.74, 0.885, 0.778), fill=sole)
    saddle = [*_bezier((0.38, 0.56), (0.47, 0.55), (0.56, 0.575)), (0.56, 0.615), (0.38, 0.61)]
    s.over.polygon(f.pts(saddle), fill=s.seam)
    s.over.rounded_rectangle(f.box(0.43, 0.575, 0.51, 0.592), f.w(0.008), fill=(0, 0, 0, 210))
    apron = _bezier((0.14, 0.68), (0.15, 0.6), (0.26, 0.575), (0.38, 0.57))
    _dashed(s.over, f.pts(apron), s.stitch, f.w(0.004))


def _belt(s: _Sketch) -> None:
    """A belt laid straight: buckle on the left, a pointed tip with holes on the right."""
    f = s.f
    s.mask.polygon(
        f.pts([(0.1, 0.46), (0.86, 0.46), (0.92, 0.51), (0.86, 0.56), (0.1, 0.56)]), fill=255
    )
    _dashed(s.over, f.pts([(0.2, 0.47), (0.86, 0.47)]), s.stitch, f.w(0.003))
    _dashed(s.over, f.pts([(0.2, 0.55), (0.86, 0.55)]), s.stitch, f.w(0.003))
    for i in range(5):
        x = 0.64 + i * 0.045
        s.over.ellipse(f.box(x - 0.007, 0.503, x + 0.007, 0.517), fill=(0, 0, 0, 190))
    s.over.rectangle(f.box(0.17, 0.455, 0.2, 0.565), fill=s.seam)
    s.over.rounded_rectangle(
        f.box(0.07, 0.42, 0.19, 0.6), f.w(0.02), outline=_GOLD, width=f.w(0.017)
    )
    s.over.line(f.pts([(0.085, 0.51), (0.2, 0.51)]), fill=_GOLD, width=f.w(0.01))


def _wallet(s: _Sketch) -> None:
    """A zip-around wallet: a small rounded block, stitched, with a gilt zip and pull."""
    f = s.f
    s.mask.rounded_rectangle(f.box(0.27, 0.36, 0.73, 0.64), f.w(0.035), fill=255)
    zip_line = f.pts([(0.3, 0.375), (0.7, 0.375)])
    s.over.line(zip_line, fill=(*_mix(_GOLD[:3], (0, 0, 0), 0.25), 255), width=f.w(0.008))
    _dashed(
        s.over,
        f.pts([(0.3, 0.4), (0.7, 0.4), (0.7, 0.61), (0.3, 0.61), (0.3, 0.4)]),
        s.stitch,
        f.w(0.004),
    )
    s.over.rounded_rectangle(f.box(0.66, 0.36, 0.72, 0.39), f.w(0.008), fill=_GOLD)
    s.over.rounded_rectangle(f.box(0.71, 0.365, 0.755, 0.43), f.w(0.01), fill=_GOLD)


def _hat(s: _Sketch) -> None:
    """A fedora from the front: a wide brim, a pinched crown and a grosgrain band."""
    f = s.f
    s.mask.ellipse(f.box(0.1, 0.58, 0.9, 0.76), fill=255)
    crown = [
        (0.29, 0.67),
        (0.31, 0.42),
        *_bezier((0.32, 0.36), (0.42, 0.28), (0.5, 0.36)),
        *_bezier((0.5, 0.36), (0.58, 0.28), (0.68, 0.36)),
        (0.69, 0.42),
        (0.71, 0.67),
    ]
    s.mask.polygon(f.pts(crown), fill=255)
    s.over.chord(f.box(0.1, 0.58, 0.9, 0.76), 0, 180, fill=(0, 0, 0, 40))
    band = (
        (*_contrast(s.colour, 0.85), 255)
        if s.colour != COLOUR_RGB["noir"]
        else (*COLOUR_RGB["burgundy"], 255)
    )
    s.over.polygon(
        f.pts([(0.296, 0.585), (0.704, 0.585), (0.709, 0.655), (0.291, 0.655)]), fill=band
    )
    s.over.ellipse(f.box(0.32, 0.59, 0.36, 0.65), fill=_mix(band[:3], (0, 0, 0), 0.2))
    s.over.line(
        f.pts(_bezier((0.5, 0.37), (0.49, 0.45), (0.5, 0.5))), fill=(0, 0, 0, 40), width=f.w(0.012)
    )


_SHAPES: dict[str, Callable[[_Sketch], None]] = {
    "tote": _tote,
    "clutch": _clutch,
    "scarf": _scarf,
    "pump": _pump,
    "loafer": _loafer,
    "belt": _belt,
    "wallet": _wallet,
    "hat": _hat,
}
