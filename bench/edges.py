"""Edge accuracy of the masks: bilinear-and-threshold against `refine_mask`, on drawn scenes.

    python -m bench.edges                       # 1 MP and 12 MP, every scene
    python -m bench.edges --sizes 1MP --scenes living-planks

Each scene (`bench/scenes.py`) is drawn with exact masks, blurred and JPEG-compressed; each
true mask is degraded to what a model hands over (288x288, edge moved about one cell,
blurred). Per scene and size it prints, for both methods, the boundary F1 (mask edge pixels
within the tolerance of a true edge pixel: 2 px at 1 MP, 5 px at 12 MP), the IoU and the
milliseconds for all four concepts, beside the time to decode the photo's JPEG and encode
its PNG result in the same run, and their ratio.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from bench.scenes import CONCEPTS, MAP_SIDE, SCENES, Floats, degraded_map, scene
from s3api.worker.engine.arrays import Mask, RGBImage, as_f32, as_u8
from s3api.worker.engine.codec import decode_image, encode_png
from s3api.worker.engine.refine import bilinear_mask, refine_masks

SIZES = {"1MP": (1152, 864), "12MP": (4000, 3000)}
TOLERANCE = {"1MP": 2, "12MP": 5}
F1_MUST = 0.75
TIME_MUST = 2.0
"""All concepts of one photo refined in at most this many times its decode + PNG encode."""

Refiner = Callable[[RGBImage, Mapping[str, Floats]], dict[str, Mask]]


@dataclass(frozen=True)
class Score:
    """One method on one scene: mean boundary F1 and IoU over its concepts, and its time."""

    boundary_f1: float
    iou: float
    milliseconds: float


def _edge(mask: Mask) -> Mask:
    """The mask's own edge pixels (inside pixels with an outside 4-neighbour)."""
    eroded = as_u8(cv2.erode(mask.view(np.uint8), np.ones((3, 3), np.uint8))) > 0
    edge: Mask = mask & ~eroded
    return edge


def boundary_f1(found: Mask, truth: Mask, tolerance: float) -> float:
    """F1 of edge pixels: found edges within ``tolerance`` of a true edge, and vice versa."""
    found_edge, true_edge = _edge(found), _edge(truth)
    if not found_edge.any() and not true_edge.any():
        return 1.0
    if not found_edge.any() or not true_edge.any():
        return 0.0
    to_true = as_f32(cv2.distanceTransform((~true_edge).view(np.uint8), cv2.DIST_L2, 3))
    to_found = as_f32(cv2.distanceTransform((~found_edge).view(np.uint8), cv2.DIST_L2, 3))
    precision = float((to_true[found_edge] <= tolerance).mean())
    recall = float((to_found[true_edge] <= tolerance).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def iou(found: Mask, truth: Mask) -> float:
    """Intersection over union (1.0 when both are empty)."""
    union = int((found | truth).sum())
    return 1.0 if union == 0 else int((found & truth).sum()) / union


def bilinear_masks(image: RGBImage, maps: Mapping[str, Floats]) -> dict[str, Mask]:
    """Today's enlargement: each map resized bilinearly to the photo and thresholded."""
    height, width = image.shape[:2]
    return {
        name: bilinear_mask(probabilities, height, width) for name, probabilities in maps.items()
    }


@dataclass(frozen=True)
class Row:
    """One scene at one size: both methods and the photo's decode + PNG encode time."""

    bilinear: Score
    refined: Score
    codec_milliseconds: float


def score(
    refiner: Refiner,
    image: RGBImage,
    maps: Mapping[str, Floats],
    truths: Mapping[str, Mask],
    tolerance: float,
    repeats: int = 1,
) -> Score:
    """One method's masks for every concept of one photo, timed together (best of
    ``repeats``) and scored."""
    masks: dict[str, Mask] = {}
    elapsed = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        masks = refiner(image, maps)
        elapsed = min(elapsed, time.perf_counter() - started)
    f1 = [boundary_f1(masks[name], truths[name], tolerance) for name in maps]
    overlaps = [iou(masks[name], truths[name]) for name in maps]
    return Score(float(np.mean(f1)), float(np.mean(overlaps)), elapsed * 1000)


def codec_milliseconds(jpeg: bytes, repeats: int = 1) -> float:
    """Decode the photo's JPEG and encode a PNG of it (best of ``repeats``): the work every
    item does anyway."""
    elapsed = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        encode_png(decode_image(jpeg))
        elapsed = min(elapsed, time.perf_counter() - started)
    return elapsed * 1000


def run(
    sizes: Mapping[str, tuple[int, int]],
    scenes: Sequence[str],
    *,
    map_side: int = MAP_SIDE,
    tolerance: Mapping[str, float] = TOLERANCE,
    repeats: int = 3,
) -> dict[tuple[str, str], Row]:
    """Every scene at every size: each method's score and the photo's codec time."""
    results: dict[tuple[str, str], Row] = {}
    for size_name, (width, height) in sizes.items():
        for index, scene_name in enumerate(scenes):
            drawn = scene(scene_name, width, height, seed=index)
            maps = {
                name: degraded_map(drawn.masks[name], seed=index * 10 + number, side=map_side)
                for number, name in enumerate(CONCEPTS)
            }
            limit = tolerance[size_name]
            results[(size_name, scene_name)] = Row(
                bilinear=score(bilinear_masks, drawn.image, maps, drawn.masks, limit, repeats),
                refined=score(refine_masks, drawn.image, maps, drawn.masks, limit, repeats),
                codec_milliseconds=codec_milliseconds(drawn.jpeg, repeats),
            )
    return results


def misses(size_name: str, row: Row) -> list[str]:
    """The targets this row does not meet (the time target applies at 12 MP)."""
    missed = []
    if row.refined.boundary_f1 < F1_MUST:
        missed.append(f"F1 {row.refined.boundary_f1:.3f} < {F1_MUST}")
    if row.refined.iou < row.bilinear.iou:
        missed.append("IoU below bilinear")
    ratio = row.refined.milliseconds / row.codec_milliseconds
    if size_name == "12MP" and ratio > TIME_MUST:
        missed.append(f"time {ratio:.2f}x > {TIME_MUST}x decode + PNG")
    return missed


def print_table(results: Mapping[tuple[str, str], Row]) -> None:
    """A Markdown table: per scene and size, both methods, and refine time / codec time."""
    print(
        "| size | scene | F1 bilinear | F1 refined | IoU bilinear | IoU refined "
        "| ms bilinear | ms refined | ms decode+PNG | refined / (decode+PNG) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (size_name, scene_name), row in results.items():
        plain, refined, codec = row.bilinear, row.refined, row.codec_milliseconds
        print(
            f"| {size_name} | {scene_name} | {plain.boundary_f1:.3f} | {refined.boundary_f1:.3f} "
            f"| {plain.iou:.4f} | {refined.iou:.4f} | {plain.milliseconds:.0f} "
            f"| {refined.milliseconds:.0f} | {codec:.0f} | {refined.milliseconds / codec:.2f}x |"
        )


def main() -> None:
    """Parse options, run the scenes and print the table and the verdict on the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--scenes", nargs="+", choices=list(SCENES), default=list(SCENES))
    parser.add_argument("--repeats", type=int, default=3, help="timings are the best of these")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default: 1)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    results = run({name: SIZES[name] for name in args.sizes}, args.scenes, repeats=args.repeats)
    print(f"{len(CONCEPTS)} concepts per photo ({', '.join(CONCEPTS)}), maps {MAP_SIDE}x{MAP_SIDE}")
    print_table(results)
    for (size_name, scene_name), row in results.items():
        for missed in misses(size_name, row):
            print(f"MISSED {size_name} {scene_name}: {missed}")


if __name__ == "__main__":
    main()
