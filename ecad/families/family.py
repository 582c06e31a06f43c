"""The declarative record that describes one model family.

A family says which transformer blocks exist, which components of a block a schedule can cache,
how to reach each component module, what the family's sampling defaults are, and how to build the
full-size (for cost tables) and tiny (for tests and CPU demos) versions of its transformer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecad.families.pipelines import FamilyPipeline

__all__ = ["ROLES", "BlockGroup", "ModelFamily", "Slot"]

#: Component roles. ``joint_attention`` is one attention over both streams (FLUX-style double
#: blocks record theirs as ``self_attention``, as the published files do); heuristics treat it
#: as self-attention.
ROLES = ("self_attention", "cross_attention", "joint_attention", "mlp")


@dataclass(frozen=True)
class BlockGroup:
    """A run of identical blocks in a transformer (e.g. FLUX's 19 double blocks).

    Attributes:
        name: short name of the group (``"double"``, ``"single"``, ``"blocks"``).
        module_list: attribute of the transformer holding the ``nn.ModuleList`` of blocks.
        num_blocks: number of blocks in the full-size architecture.
        components: cacheable component names, in genome order.
        component_paths: attribute path inside one block for each component.
        json_prefix: prefix of the block key in published schedule files (``""`` gives ``"0"``,
            ``"single_"`` gives ``"single_0"``).
        roles: role of each component, one of :data:`ROLES` (heuristics such as TGATE select
            components by role).
        num_blocks_key: transformer config key holding the block count (``"num_layers"``); when
            ``None``, ``num_single_layers`` for a prefixed group and ``num_layers`` otherwise.
        optional: components that some blocks of the group lack (SD3's last joint block has no
            ``ff_context``: its context stream ends after the attention). Their slots in such
            blocks are inert: never hooked, zero cost.
    """

    name: str
    module_list: str
    num_blocks: int
    components: tuple[str, ...]
    component_paths: Mapping[str, str]
    json_prefix: str = ""
    roles: Mapping[str, str] = field(default_factory=dict)
    num_blocks_key: str | None = None
    optional: tuple[str, ...] = ()

    @property
    def config_key(self) -> str:
        """Transformer config key of the group's block count."""
        if self.num_blocks_key:
            return self.num_blocks_key
        return "num_single_layers" if self.json_prefix else "num_layers"

    @property
    def header_key(self) -> str:
        """Block-count key in a published schedule file's header: ``num_blocks`` for the
        unprefixed group, ``num_single_blocks`` for FLUX's ``single_``, ``num_<prefix>blocks``
        for any other prefix."""
        return f"num_{self.json_prefix}blocks"

    def block_key(self, index: int) -> str:
        return f"{self.json_prefix}{index}"


@dataclass(frozen=True)
class Slot:
    """One column of a schedule: a component of one block."""

    group: str
    block: int
    component: str
    block_key: str


@dataclass(frozen=True)
class ModelFamily:
    """Everything the library needs to know about one family of diffusion transformers.

    Attributes:
        name: canonical family name used on the CLI and in specs (``"pixart-alpha"``).
        kind: pipeline calling convention (``"pixart"``, ``"flux"``, ``"sd3"``, ``"qwen-image"``,
            ``"flux2"``; see ``ecad.generation.adapters``).
        aliases: other names accepted for it (published pipeline names like ``"pixart_sigma"``).
        pipeline_class: diffusers pipeline class name.
        transformer_class: diffusers transformer class name.
        block_groups: the cacheable block groups, in genome order.
        default_weights: hub id (or local directory) of the full pipeline.
        default_steps / default_guidance / default_resolution: sampling defaults.
        default_dtype: ``"float16"`` or ``"bfloat16"``.
        max_sequence_length: text tokens the pipeline encodes a prompt to.
        transformer_config: config of the full-size transformer (for meta-device cost tables).
        build_tiny_pipeline: builds a tiny random-weight pipeline of the same architecture.
        text_components: pipeline components that encode prompts (left out when generating
            from precomputed embeddings).
        prompt_outputs: derived families: the names of ``pipeline.encode_prompt``'s outputs, in
            order (``None`` for an output the pipeline call does not take).
        cost_inputs: derived families: the transformer's forward inputs for cost tables, as
            symbolic shapes (:mod:`ecad.families.cost_inputs`).
        cost_device: ``"meta"`` (no memory) or ``"cpu"`` for a forward that reads tensor values.
        record: derived families: the record file's content (it travels with a search spec).
        default_frames: video families: frames per video (0: an image family).
        default_fps: video families: frames per second of the written videos.
        default_width: video families: the width at ``default_resolution`` (the height);
            ``None``: square images.
        experts: the pipeline's transformers, in expert order (Wan 2.2: ``transformer`` for
            high noise, ``transformer_2`` for low noise).
        expert_steps: two-expert families: ``steps -> expert index of each step``; one
            schedule covers every expert, each step's row applying to the expert running it.
        default_guidance_2: two-expert families: the second (low-noise) expert's guidance
            (Wan 2.2's ``guidance_scale_2``); ``None``: ``default_guidance`` for both.
        tiny_blocks: block count of each group in the tiny build.
        transformer_inputs: ``(config, latent_size, batch, text_tokens) -> kwargs`` of one
            transformer forward (tensors made in the current default device, e.g. meta), for
            cost tables. ``latent_size`` is the VAE latent's side (resolution / VAE factor).
        cfg_rows: transformer rows per image and step under classifier-free guidance: 2 where the
            pipeline also runs the unconditional half (PixArt and SD3 in one batch, Qwen-Image in
            a second call), 1 for guidance-distilled models (FLUX).
        pipelines: the family's other diffusers pipelines (img2img, inpainting, ControlNet,
            edit; :mod:`ecad.families.pipelines`), which run its schedules unchanged.
    """

    name: str
    kind: str
    pipeline_class: str
    transformer_class: str
    block_groups: tuple[BlockGroup, ...]
    default_weights: str
    default_steps: int
    default_guidance: float
    default_resolution: int
    default_dtype: str
    max_sequence_length: int
    transformer_config: Mapping[str, Any]
    build_tiny_pipeline: Callable[..., Any] = field(repr=False, compare=False)
    aliases: tuple[str, ...] = ()
    vae_scale_factor: int = 8
    patch_size: int = 2
    text_components: tuple[str, ...] = ()
    tiny_blocks: Mapping[str, int] = field(default_factory=dict)
    transformer_inputs: Callable[..., dict[str, Any]] | None = field(
        default=None, repr=False, compare=False
    )
    cfg_rows: int = 1
    prompt_outputs: tuple[str | None, ...] = ()
    cost_inputs: Mapping[str, Any] = field(default_factory=dict)
    cost_device: str = "meta"
    record: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    default_frames: int = 0
    default_fps: int = 0
    default_width: int | None = None
    experts: tuple[str, ...] = ("transformer",)
    expert_steps: Callable[[int], tuple[int, ...]] | None = field(
        default=None, repr=False, compare=False
    )
    default_guidance_2: float | None = None
    pipelines: tuple[FamilyPipeline, ...] = ()

    @property
    def is_video(self) -> bool:
        return self.default_frames > 0

    def width_for(self, height: int) -> int:
        """The default width at ``height``: the family's aspect ratio, rounded down to the
        size multiple (Wan: 832 at 480, 1248 at 720; give ``width`` for 1280); square for
        image families."""
        if self.default_width is None:
            return height
        m = self.resolution_multiple()
        return max(m, height * self.default_width // self.default_resolution // m * m)

    def expert_of_steps(self, steps: int) -> tuple[int, ...]:
        """Which expert (an index into :attr:`experts`) runs each denoising step."""
        if self.expert_steps is None:
            return (0,) * steps
        return tuple(self.expert_steps(steps))

    def expert_starts(self, steps: int) -> tuple[int, ...]:
        """The steps at which an expert runs for the first time: nothing is cached there."""
        of = self.expert_of_steps(steps)
        return tuple(t for t in range(steps) if t == 0 or of[t] not in of[:t])

    @property
    def derived(self) -> bool:
        """Whether the family comes from a record file (``ecad family derive``)."""
        return self.record is not None

    def components_with_role(self, *roles: str) -> tuple[str, ...]:
        return tuple(c for g in self.block_groups for c in g.components if g.roles.get(c) in roles)

    @property
    def components(self) -> tuple[str, ...]:
        """All component names of the family, in genome order (no duplicates)."""
        seen: list[str] = []
        for group in self.block_groups:
            seen.extend(c for c in group.components if c not in seen)
        return tuple(seen)

    def slots(self, num_blocks: Mapping[str, int] | None = None) -> tuple[Slot, ...]:
        """The schedule columns, in genome order: group by group, block by block, component by
        component. ``num_blocks`` overrides the block count of a group (tiny models)."""
        out: list[Slot] = []
        for group in self.block_groups:
            count = (num_blocks or {}).get(group.name, group.num_blocks)
            for block in range(count):
                for component in group.components:
                    out.append(Slot(group.name, block, component, group.block_key(block)))
        return tuple(out)

    def resolution_multiple(self) -> int:
        """Image sizes must be a multiple of this (latent downsampling times patch size)."""
        return self.vae_scale_factor * self.patch_size
