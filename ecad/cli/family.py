"""``ecad family``: list, show and derive model families (built-in names or record files)."""

from __future__ import annotations

from pathlib import Path

import click

from ecad.cli.options import json_option
from ecad.cli.table import render_table

__all__ = ["family"]


@click.group()
def family() -> None:
    """Model families: the built-in ones and records derived from any diffusers transformer."""


def _blocks(fam) -> str:
    return ", ".join(f"{g.num_blocks} {g.name} x {len(g.components)}" for g in fam.block_groups)


def _record_files(directory: Path) -> list[Path]:
    return (
        sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]) if directory.is_dir() else []
    )


@family.command("list")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=Path("families"),
    show_default=True,
    help="Folder of family record files to list as well.",
)
def list_families(directory: Path) -> None:
    """Built-in families and the record files in --dir (reads no model: no torch import)."""
    from ecad.errors import FamilyError
    from ecad.families import FAMILIES
    from ecad.families.record import read_record_file

    rows = [
        [f.name, "built-in", f.transformer_class, _blocks(f), f.default_steps]
        for f in FAMILIES.values()
    ]
    bad = []
    for path in _record_files(directory):
        try:
            fam = read_record_file(path)
        except FamilyError as exc:
            bad.append(f"{path}: {str(exc).splitlines()[0]}")
            continue
        rows.append([fam.name, str(path), fam.transformer_class, _blocks(fam), fam.default_steps])
    click.echo(
        render_table(
            ["family", "source", "transformer", "blocks x components", "steps"], rows, "lllll"
        )
    )
    for line in bad:
        click.echo(f"skipped {line}", err=True)


@family.command("show")
@click.argument("name_or_file")
@click.option(
    "--resolution",
    type=int,
    default=None,
    help="Image size of the MACs figures (default: the family's).",
)
@click.option(
    "--batch-size",
    "batch",
    type=int,
    default=1,
    show_default=True,
    help="Rows per transformer call of the MACs figures.",
)
@click.option(
    "--no-macs",
    is_flag=True,
    help="Skip the MACs figures (they build the transformer on the meta device, or on "
    "the CPU with one block per group for a record whose cost.device is cpu).",
)
@json_option
def show(
    name_or_file: str, resolution: int | None, batch: int, no_macs: bool, as_json: bool
) -> None:
    """Components, roles, blocks, defaults and MACs per step of a family."""
    import json

    from ecad.families import get_family

    fam = get_family(name_or_file)
    res = resolution or fam.default_resolution
    info = {
        "family": fam.name,
        "derived": fam.derived,
        "transformer_class": fam.transformer_class,
        "pipeline_class": fam.pipeline_class,
        "default_weights": fam.default_weights or None,
        "defaults": {
            "steps": fam.default_steps,
            "guidance": fam.default_guidance,
            **({"guidance_2": fam.default_guidance_2} if fam.default_guidance_2 else {}),
            "resolution": fam.default_resolution,
            "dtype": fam.default_dtype,
            **(
                {
                    "width": fam.width_for(fam.default_resolution),
                    "frames": fam.default_frames,
                    "fps": fam.default_fps,
                }
                if fam.is_video
                else {}
            ),
        },
        "block_groups": [
            {
                "name": g.name,
                "module_list": g.module_list,
                "num_blocks": g.num_blocks,
                "json_prefix": g.json_prefix,
                "components": [
                    {"name": c, "path": g.component_paths[c], "role": g.roles.get(c)}
                    for c in g.components
                ],
            }
            for g in fam.block_groups
        ],
        "other_pipelines": [
            {
                "role": p.role,
                "pipeline_class": p.pipeline_class,
                "strength": p.strength,
                "controlnet_class": p.controlnet_class,
                "weights": p.weights,
                "tested": p.tested,
            }
            for p in fam.pipelines
        ],
    }
    if not no_macs:
        from ecad.cost import macs_table

        info["macs_per_step"] = {"resolution": res, "batch": batch}
        for mode in ("macs", "macs-linear"):
            table = macs_table(fam, res, batch, mode)
            info["macs_per_step"][mode] = float(table.base + table.slot_costs.sum())
            info["macs_per_step"][f"{mode}_cacheable"] = float(table.slot_costs.sum())
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{fam.name}  ({'derived record' if fam.derived else 'built-in'})")
    click.echo(f"  transformer {fam.transformer_class}, pipeline {fam.pipeline_class}")
    click.echo(f"  weights     {fam.default_weights or '(none: give weights in the spec)'}")
    d = info["defaults"]
    size = (
        f"{d['width']}x{d['resolution']}, {d['frames']} frames at {d['fps']} fps"
        if fam.is_video
        else f"{d['resolution']} px"
    )
    guidance = f"guidance {d['guidance']}" + (
        f" (low-noise expert {d['guidance_2']})" if "guidance_2" in d else ""
    )
    click.echo(f"  defaults    {d['steps']} steps, {guidance}, {size}, {d['dtype']}")
    if len(fam.experts) > 1:
        of = fam.expert_of_steps(fam.default_steps)
        runs = ", ".join(
            f"{name} steps {of.index(i)}-{len(of) - 1 - of[::-1].index(i)}"
            for i, name in enumerate(fam.experts)
            if i in of
        )
        click.echo(f"  experts     one schedule for both: {runs} (of {fam.default_steps})")
    rows = [
        [g.name, g.module_list, g.num_blocks, c, g.component_paths[c], g.roles.get(c, "")]
        for g in fam.block_groups
        for c in g.components
    ]
    click.echo(
        render_table(
            ["group", "module list", "blocks", "component", "path", "role"], rows, "llrlll"
        )
    )
    if fam.pipelines:
        click.echo(
            "other pipelines (same schedule, row = sampler step; strength s < 1 starts "
            "at row int(N - s*N)):"
        )
        for role in dict.fromkeys(p.role for p in fam.pipelines):
            names = [p.describe() for p in fam.pipelines if p.role == role]
            click.echo(f"  {role:<11} {'; '.join(names)}")
    elif fam.derived:
        click.echo(
            "other pipelines: not listed for a record (a pipeline of the same transformer "
            "class runs its schedules; row = sampler step)"
        )
    else:
        click.echo("other pipelines: none in diffusers")
    if "macs_per_step" in info:
        m = info["macs_per_step"]
        at = (
            f"{res} px"
            if not fam.is_video
            else (f"{fam.width_for(res)}x{res}, {fam.default_frames} frames")
        )
        click.echo(
            f"MACs per step at {at}, batch {batch}: {m['macs'] / 1e9:,.1f} G "
            f"({m['macs_cacheable'] / m['macs']:.1%} in cacheable components); "
            f"linear layers only: {m['macs-linear'] / 1e9:,.1f} G"
        )


@family.command("derive")
@click.argument("source")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Record file to write (default: families/<name>.yaml).",
)
@click.option("--name", default=None, help="Family name (default: from the class name).")
@click.option(
    "--pipeline",
    "pipeline_class",
    default=None,
    help="diffusers pipeline class (default: the weights directory's, or guessed "
    "from the transformer class).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing record file.")
def derive(
    source: str, output: Path | None, name: str | None, pipeline_class: str | None, force: bool
) -> None:
    """Write the family record of a diffusers transformer: SOURCE is a class name (built on the
    meta device from its default config), a pipeline directory (model_index.json +
    transformer/config.json) or a transformer directory (config.json)."""
    from ecad.atomic import write_atomic
    from ecad.families.derive import derive_record, record_yaml

    record = derive_record(source, name=name, pipeline_class=pipeline_class)
    out = output or Path("families") / f"{record['name']}.yaml"
    if out.exists() and not force:
        raise click.UsageError(f"{out} exists; pass --force to overwrite it or -o another file")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, record_yaml(record, source).encode())
    groups = ", ".join(
        f"{g['num_blocks']} {g['name']} x {[c['name'] + ':' + c['role'] for c in g['components']]}"
        for g in record["block_groups"]
    )
    click.echo(f"wrote {out}: {record['transformer_class']} / {record['pipeline_class']}: {groups}")
    click.echo(
        f"next: edit it, check it with `ecad family show {out}`, then name it in a spec "
        f"(family: {out})"
    )
