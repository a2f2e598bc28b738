"""Synthetic receipts with known text: rendered with Pillow, clean, rotated or made to look photographed.

The OCR benchmark and the OCR tests both need images whose true text is known exactly, without
shipping binary fixtures: a seeded generator writes a shop, a date, items and a total, and
`render` draws them at a chosen size, rotation and degradation (blur, noise, low contrast, a
slight tilt with uneven light, like a phone photo on a kitchen table).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, timedelta

from PIL import Image, ImageDraw, ImageFilter, ImageFont

SHOPS = (
    "Leslie's Pool Supplies", "Harbor Freight Tools", "Ace Hardware", "Home Depot", "Lowe's Home Center",
    "Pinewood Garden Centre", "Northside Appliance Repair", "Bright Spark Electric", "Valley Plumbing Co",
    "Sunrise Auto Service", "Green Thumb Nursery", "City Paint & Paper",
)
ITEMS = (
    "Pool pump 1.5 HP", "Chlorine tablets 25 lb", "Filter cartridge", "Water heater anode rod", "Furnace filter 20x25",
    "LED bulbs 4 pack", "Garden hose 50 ft", "Mulch 2 cu ft", "Smoke detector", "Caulk white silicone",
    "Wiper blades 22 in", "Motor oil 5W-30", "Paint roller kit", "Shut-off valve 1/2 in", "Weed killer 1 gal",
    "Dryer vent brush", "Extension cord 25 ft", "Sprinkler head", "Door hinge set", "Air filter cabin",
)
# Degradations of the benchmark: names used in its table and in the tests.
VARIANTS = ("clean", "rot90", "rot180", "rot270", "blur", "noise", "low-contrast", "photo")
DEGRADED = frozenset({"blur", "noise", "low-contrast", "photo"})


@dataclass(frozen=True)
class Receipt:
    shop: str
    day: date
    items: tuple[tuple[str, float], ...]
    number: int

    @property
    def subtotal(self) -> float:
        return round(sum(price for _, price in self.items), 2)

    @property
    def tax(self) -> float:
        return round(self.subtotal * 0.07, 2)

    @property
    def total(self) -> float:
        return round(self.subtotal + self.tax, 2)

    def lines(self) -> list[str]:
        """The receipt's text, line by line, as printed (the OCR ground truth)."""
        rows = [self.shop, f"Receipt {self.number}", f"Date {self.day.isoformat()}", ""]
        rows += [f"{name:<26}{price:>9.2f}" for name, price in self.items]
        rows += ["", f"{'Subtotal':<26}{self.subtotal:>9.2f}", f"{'Tax 7%':<26}{self.tax:>9.2f}",
                 f"{'TOTAL':<26}{self.total:>9.2f}", "", "Thank you for shopping with us"]
        return rows

    @property
    def text(self) -> str:
        return "\n".join(self.lines())


def receipt(seed: int) -> Receipt:
    """A reproducible receipt: the same seed always gives the same shop, date, items and prices."""
    rng = random.Random(seed)
    items = tuple((name, round(rng.uniform(3, 600), 2)) for name in rng.sample(ITEMS, rng.randint(2, 5)))
    day = date(2023, 1, 1) + timedelta(days=rng.randrange(900))
    return Receipt(SHOPS[seed % len(SHOPS)], day, items, 10_000 + rng.randrange(90_000))


def render(receipt: Receipt, variant: str = "clean", size: int = 28, seed: int = 0) -> Image.Image:
    """The receipt drawn in black on white with Pillow's bundled font, then degraded as `variant` says."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    font = ImageFont.load_default(size=size)
    lines = receipt.lines()
    step = int(size * 1.5)
    width = int(max(font.getlength(line) for line in lines)) + 4 * size
    image = Image.new("L", (width, step * len(lines) + 4 * size), 255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        name, price = _columns(line)
        y = 2 * size + row * step
        draw.text((2 * size, y), name, fill=0, font=font)
        if price:
            draw.text((width - 2 * size - font.getlength(price), y), price, fill=0, font=font)
    return _degrade(image, variant, random.Random(seed))


def _columns(line: str) -> tuple[str, str]:
    """A priced line split into its name and its right-aligned amount."""
    match = re.fullmatch(r"(.*?)\s+(\d+\.\d\d)", line)
    return (match.group(1), match.group(2)) if match else (line, "")


def _degrade(image: Image.Image, variant: str, rng: random.Random) -> Image.Image:
    import numpy as np

    if variant.startswith("rot"):
        return image.rotate(int(variant[3:]), expand=True)
    if variant == "blur":
        return image.filter(ImageFilter.GaussianBlur(1.4))
    pixels = np.asarray(image, dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(2**32))
    if variant == "noise":
        pixels = pixels + noise.normal(0, 40, pixels.shape)
    elif variant == "low-contrast":
        pixels = 150 + pixels * (45 / 255)  # grey ink on a grey page: 150 against 195
    elif variant == "photo":
        height, width = pixels.shape
        light = np.linspace(1.0, 0.72, width)[None, :] * np.linspace(1.0, 0.85, height)[:, None]
        pixels = (90 + pixels * (140 / 255)) * light + noise.normal(0, 10, pixels.shape)
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if variant == "photo":
        out = out.rotate(2.5, expand=True, fillcolor=200, resample=Image.BICUBIC).filter(ImageFilter.GaussianBlur(0.8))
    return out
