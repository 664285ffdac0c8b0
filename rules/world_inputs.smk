# Params of the world splits (rules/world.smk).


def world_split_seed(wildcards):
    return WORLD["probe_seed"] if wildcards.split == "probe" else WORLD["train_seed"]


def world_split_size(wildcards):
    return (
        WORLD["probe_images"] if wildcards.split == "probe" else WORLD["train_images"]
    )
