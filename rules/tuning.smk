# Settings chosen on the world's tuning split (its own seed and images), never on the
# evaluated probe split: the t-vMF kappa of every method with `kappa: tuned`.


# One job: the target's pass, ground truth, top-k sets and CLIP embeddings of the tuning
# split in memory, then the kappa sweep (and the Grad-CAM window the split would choose).
rule tune_kappa:
    input:
        unpack(tuning_inputs),
    output:
        results("tuning/kappa.json"),
    log:
        results("logs/tune_kappa.log"),
    benchmark:
        results("benchmarks/tune_kappa.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        plan=tuning_plan,
        target=target_spec(),
        device=config["device"],
    script:
        "../scripts/tune_kappa.py"
