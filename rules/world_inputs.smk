# Params of the world splits (rules/world.smk): the probe split (described and evaluated),
# the tuning split (where kappa: tuned is chosen: rules/tuning.smk) and the train split.


def world_split_seed(wildcards):
    return WORLD[f"{wildcards.split}_seed"]


def world_split_size(wildcards):
    return WORLD[f"{wildcards.split}_images"]
