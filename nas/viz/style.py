"""What the two diagram engines share, so their drawings read alike: colours and the macro skeleton's boxes.

:mod:`nas.viz.diagrams` (Graphviz) and :mod:`nas.viz.layout` (matplotlib) both colour an
edge by its operation and a stage by its block family, and describe a macro genotype as
the same list of boxes (:func:`macro_boxes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nas.genotypes.types import MacroGenotype, Stage

#: Edge colour of each operation (shared by both engines, so the drawings read alike).
OP_COLORS: dict[str, str] = {
    "none": "#b0b0b0",
    "skip_connect": "#222222",
    "max_pool_3x3": "#d62728",
    "avg_pool_3x3": "#ff7f0e",
    "sep_conv_3x3": "#1f4e9c",
    "sep_conv_5x5": "#3a7dd8",
    "sep_conv_7x7": "#6aa6ee",
    "dil_conv_3x3": "#7b3fa0",
    "dil_conv_5x5": "#b07ad0",
    "conv_7x1_1x7": "#8c564b",
    "nor_conv_1x1": "#2ca02c",
    "nor_conv_3x3": "#1f4e9c",
}
#: Fill colour of a stage box, by block family.
FAMILY_COLORS: dict[str, str] = {
    "vgg": "#f6c6c6",
    "inception": "#c9e4c5",
    "resnet": "#c6dcf6",
    "densenet": "#f8e2b8",
}
INPUT_FILL = "#d8ecd0"
NODE_FILL = "#dbe9f7"
OUTPUT_FILL = "#f3eab5"
PLAIN_FILL = "#eeeeee"


def _stage_lines(stage: Stage) -> list[str]:
    b = stage.block
    if b.family == "vgg":
        body = f"conv {b.kernel_size}x{b.kernel_size}, {b.channels} ch"
    elif b.family == "inception":
        third = "3x3+3x3" if b.double_3x3 else "5x5"
        return [
            f"{stage.depth} x inception",
            f"1x1: {b.b1} | 3x3: {b.b2_reduce}>{b.b2}",
            f"{third}: {b.b3_reduce}>{b.b3} | pool: {b.pool_proj}",
        ]
    elif b.family == "resnet":
        extras = [
            f"groups {b.groups}" if b.groups > 1 else "",
            f"width {b.inner_width}" if b.kind == "bottleneck" or b.width else "",
            f"SE 1/{b.se_reduction}" if b.se_reduction else "",
            "pre-act" if b.preact else "",
            "pad shortcut" if b.shortcut == "pad" else "",
        ]
        body = f"{b.kind} block, {b.channels} ch"
        extra = ", ".join(e for e in extras if e)
        return [f"{stage.depth} x {body}"] + ([extra] if extra else [])
    else:
        body = f"dense layer, growth {b.growth_rate}" + (f", 1x1 {b.bottleneck}k" if b.bottleneck else "")
    return [f"{stage.depth} x {body}"]


def _downsample_text(stage: Stage) -> str:
    if stage.downsample == "none":
        return ""
    if stage.downsample == "transition":
        return f"transition (x{stage.compression:g} ch), /2"
    if stage.downsample == "stride":
        return "stride 2, /2"
    return f"{stage.downsample.replace('_', ' ')} 2x2, /2"


@dataclass
class MacroBox:
    """One box of the skeleton: a title, its text lines, a fill colour, the label of the arrow into it."""

    title: str
    lines: list[str]
    fill: str
    arrow_in: str = ""


def macro_boxes(g: MacroGenotype) -> list[MacroBox]:
    """Input, stem, one box per stage (block summary and output shape), head."""
    shapes = g.feature_shapes()
    boxes = [MacroBox("input", [f"{g.in_channels} x {g.input_size} x {g.input_size}"], PLAIN_FILL)]
    if g.stem.channels:
        k = g.stem.kernel_size
        extra = " + BN-ReLU" if g.stem.norm_act else ""
        boxes.append(MacroBox("stem", [f"conv {k}x{k}, {g.stem.channels} ch{extra}"], PLAIN_FILL))
    for i, (stage, (channels, side)) in enumerate(zip(g.stages, shapes)):
        lines = _stage_lines(stage) + [f"out: {channels} x {side} x {side}"]
        fill = FAMILY_COLORS.get(stage.block.family, PLAIN_FILL)
        boxes.append(MacroBox(f"stage {i + 1} - {stage.block.family}", lines, fill, _downsample_text(stage)))
    h = g.head
    head = ("BN-ReLU, " if h.preact else "") + f"global {h.pool} pool, FC"
    if h.dropout:
        head += f" (dropout {h.dropout:g})"
    boxes.append(MacroBox("head", [head], PLAIN_FILL))
    return boxes
