"""Every on-disk format that stages hand to each other, each with its save and load in one
module, every write atomic (:mod:`conceptlens.io.atomic`).  Torch-free: jobs that only
read and write these files (tables, metrics, the report) never import torch.

========================  ===============================================================
module                    files (under ``results/<run>/``)
========================  ===============================================================
``io.probe``              ``world/<split>/``, ``probe/``: ``attributes.parquet``, images
``io.activations``        ``activations/<view>/<layer>.npz``, ``activations/target.json``
``io.views``              ``views/<view>/boxes.parquet``, ``views/gradcam/cams.npz``
``io.topk``               ``topk/<view>/<layer>.npz``
``io.concepts``           ``concepts/<name>.txt``, ``concepts/<name>_hierarchy.tsv``,
                          class-names files (``derived/class_synonyms.txt``)
``io.embeddings``         ``clip/<clip>/images.npz``, ``clip/<clip>/text/<concepts>.npz``,
                          ``metrics/<concepts>/text_embeddings.npz``
``io.descriptions``       ``descriptions/<concepts>/<method>/<layer>.{parquet,csv,scores.npy}``,
                          ``imported/<name>.parquet``
``io.ground_truth``       ``ground_truth/neurons.{parquet,csv}``
``io.metrics``            ``metrics/<concepts>/{table1,ablation}.{csv,json}``,
                          ``per_neuron.parquet``
``io.stability``          ``stability/<concepts>/<function>.{parquet,json}``,
                          ``stability/table.{csv,json}``
``io.convis``             ``convis/{neuron_maps,localisation_maps}.npz``,
                          ``convis/localisation.{csv,json}``
``io.evidence``           ``evidence/<concepts>/{table.{parquet,csv},summary.{csv,json},
                          check.{csv,json}}``
``io.neurons``            ``report/neurons.json``
``io.neuron_maps``        ``report/neuron_maps/<layer>.npz``
``io.paths``              what a result path encodes (concept set, method, layer, view)
========================  ===============================================================
"""
