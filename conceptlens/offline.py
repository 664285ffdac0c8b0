"""Everything a configuration needs from outside the repository, checked up front.

:func:`missing_requirements` lists each weight file, data folder and download a config
needs that is neither on disk (or in a download cache) nor downloadable from here, with
the config key that takes a local path instead.  The ``check_requirements`` rule runs it
before any heavy rule, so an offline run stops at once with one message naming them all.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from conceptlens.errors import InputError


@dataclass(frozen=True)
class Missing:
    """One thing a config needs that is not available: what, why, and the key to set."""

    item: str
    reason: str
    key: str

    def line(self) -> str:
        return f"- {self.item}: {self.reason}; set {self.key}"

    @property
    def local(self) -> bool:
        """Whether it is a local file or folder the user named (not a download)."""
        return self.reason.endswith("not found")


class MissingRequirementsError(InputError, RuntimeError):
    """A config needs weights or data that are not here; the message lists them all."""

    def __init__(self, missing: list[Missing], config_name: str = "the configuration"):
        self.missing = missing
        super().__init__(
            f"{config_name} needs {len(missing)} item(s) that are neither on this machine nor "
            "downloadable from it:\n" + "\n".join(m.line() for m in missing)
            + "\n" + self.advice(missing))

    @staticmethod
    def advice(missing: list[Missing]) -> str:
        """What to do: fix the paths of local files; download the rest elsewhere."""
        fix = "Check the paths under the keys named above (relative paths are read from the "
        fix += "folder snakemake runs in)."
        download = ("Download them on a machine with internet access and give the local "
                    "paths under the keys named above.")
        if all(m.local for m in missing):
            return fix
        if any(m.local for m in missing):
            return f"{fix[:-1]}; for the others: {download[0].lower()}{download[1:]}"
        return download


def _proxy_for(scheme: str) -> str:
    names = ("HTTPS_PROXY", "https_proxy") if scheme == "https" else ("HTTP_PROXY", "http_proxy")
    return next((os.environ[v] for v in (*names, "ALL_PROXY", "all_proxy") if os.environ.get(v)), "")


@functools.lru_cache(maxsize=64)
def reachable(url: str, timeout: float = 3.0) -> bool:
    """Quick TCP check (DNS + connect within ``timeout`` s) that ``url``'s host, or the
    proxy that a download would use, answers.  Cached per URL for the process."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(parts.path).exists()
    proxy = _proxy_for(parts.scheme)
    if proxy:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not host:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_download(url: str, what: str, key: str) -> None:
    """Raise :class:`MissingRequirementsError` when ``url`` cannot be reached."""
    if not reachable(url):
        raise MissingRequirementsError([Missing(what, f"{urlsplit(url).hostname} cannot be "
                                                      "reached", key)])


# --------------------------------------------------------------------- per item


def _target_missing(target: Mapping) -> list[Missing]:
    source = target.get("source", "world")
    if source == "checkpoint" or (source == "world" and target.get("path")):
        path = target.get("path")
        if not path or not Path(path).expanduser().is_file():
            return [Missing(f"target checkpoint {path!r}", "file not found", "target.path")]
        return []
    if source == "torchvision" and target.get("weights") not in (None, "", "none"):
        from conceptlens.models.torchvision_weights import (
            torchvision_cache_file,
            torchvision_weights,
        )

        enum = torchvision_weights(target["name"], target["weights"])
        if torchvision_cache_file(enum).is_file() or reachable(enum.url):
            return []
        return [Missing(f"torchvision weights {target['name']} {target['weights']} ({enum.url})",
                        f"not in {torchvision_cache_file(enum).parent} and "
                        f"{urlsplit(enum.url).hostname} cannot be reached",
                        "target.source: checkpoint and target.path")]
    if source == "timm" and target.get("weights") not in (None, False, "", "none"):
        if reachable("https://huggingface.co"):
            return []
        return [Missing(f"timm pretrained weights of {target['name']}",
                        "huggingface.co cannot be reached",
                        "target.source: checkpoint and target.path")]
    return []


def _clip_missing(key: str, name: str, pretrained: str | None) -> list[Missing]:
    if not pretrained:
        return []
    where = f"clip_models.{key}.pretrained"
    if os.sep in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors", ".pth")):
        if Path(pretrained).expanduser().is_file():
            return []
        return [Missing(f"CLIP checkpoint {pretrained!r} ({name})", "file not found", where)]
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, pretrained)
    if not cfg:
        tags = [t for n, t in open_clip.list_pretrained() if n == name]
        return [Missing(f"CLIP {name} pretrained={pretrained!r}",
                        f"not a known open_clip tag (known for {name}: {', '.join(tags) or 'none'})",
                        where)]
    if _clip_cached(cfg):
        return []
    url = "https://huggingface.co" if cfg.get("hf_hub") else cfg.get("url", "")
    if url and reachable(url):
        return []
    return [Missing(f"CLIP weights {name} {pretrained}",
                    f"not in the download cache and {urlsplit(url).hostname or 'the hub'} cannot "
                    "be reached", f"{where} (a local checkpoint file)")]


def _clip_cached(cfg: Mapping) -> bool:
    """Whether open_clip's weights for ``cfg`` are already in the Hugging Face cache."""
    hf_hub = cfg.get("hf_hub") or ""
    if not hf_hub:
        return False
    from huggingface_hub import try_to_load_from_cache

    repo_id = "/".join(hf_hub.rstrip("/").split("/")[:2])
    for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return True
    return False


def _sentence_missing(name: str) -> list[Missing]:
    from conceptlens.text_models import CONFIG_KEY, hub_reachable, is_bundled_name

    if is_bundled_name(name) or Path(name).expanduser().is_dir():
        return []
    if "/" not in name:
        repo_id = f"sentence-transformers/{name}"
    else:
        repo_id = name
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str) or hub_reachable():
        return []
    return [Missing(f"sentence model {name!r}", "not in the Hugging Face cache and the hub "
                    "cannot be reached", f"{CONFIG_KEY} (a local model folder)")]


def _probe_missing(probe: Mapping) -> list[Missing]:
    if probe.get("source", "world") == "world":
        return []
    out = []
    path = probe.get("path")
    if not path or not Path(path).expanduser().is_dir():
        out.append(Missing(f"probe images ({probe.get('source')})", f"folder {path!r} not found",
                           "probe.path"))
    labels = probe.get("labels")
    if labels and not Path(labels).expanduser().exists():
        out.append(Missing("probe labels", f"{labels!r} not found", "probe.labels"))
    return out


def _concepts_missing(concept_sets: Mapping, built: Path | None, mirror: str | None = None
                      ) -> list[Missing]:
    from conceptlens.concept_sets import WORDNET_SETS

    out = []
    for name, path in concept_sets.items():
        if path is not None:
            if not Path(path).expanduser().is_file():
                out.append(Missing(f"concept set {name}", f"file {path!r} not found",
                                   f"concept_sets.{name}"))
        elif name == "world":
            continue
        elif name not in WORDNET_SETS:
            from conceptlens.concept_sets import (
                BUILTIN_DOWNLOADS,
                BUILTIN_NAMES,
                DOWNLOADS_FOLDER,
                download_url,
            )

            if built is not None and any((d / f"{name}.txt").is_file() for d in (
                    built, built.parents[1] / DOWNLOADS_FOLDER / "concept_sets")):
                continue
            if name not in BUILTIN_DOWNLOADS:
                out.append(Missing(f"concept set {name}", "null names a set the workflow builds "
                                   f"({', '.join(BUILTIN_NAMES)})",
                                   f"concept_sets.{name} (a local file)"))
                continue
            url = download_url(name, mirror)
            if not reachable(url):
                host = urlsplit(url).hostname
                out.append(Missing(f"concept set {name} ({url})",
                                   f"{host} cannot be reached" if host else "file not found",
                                   f"concept_sets.{name} (a local copy of the file) or "
                                   "concept_downloads.mirror"))
        else:
            out += _wordnet_missing(f"concept_sets.{name} (a local file of WordNet nouns)")
    return out


def _wordnet_missing(key: str) -> list[Missing]:
    from conceptlens.hierarchy import DEFAULT_WORDNET_DIR

    if Path(DEFAULT_WORDNET_DIR, "data.noun").is_file():
        return []
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return []
    except LookupError:
        return [Missing("WordNet 3.0", f"neither {DEFAULT_WORDNET_DIR} (apt-get install "
                        "wordnet-base) nor NLTK's wordnet corpus is installed", key)]


def missing_requirements(config: Mapping, results_dir: str | os.PathLike | None = None
                         ) -> list[Missing]:
    """Every missing weight, data folder and download of ``config`` (empty = all there).

    ``results_dir``: the run's results folder; concept sets already built there count.
    """
    built = Path(results_dir) / "concepts" if results_dir else None
    missing = _target_missing(config.get("target") or {})
    for key, entry in (config.get("clip_models") or {}).items():
        if _clip_used(config, key):
            missing += _clip_missing(key, entry["name"], entry.get("pretrained"))
    metrics = config.get("metrics") or {}
    if metrics.get("sentence_model"):
        missing += _sentence_missing(str(metrics["sentence_model"]))
    missing += _probe_missing(config.get("probe") or {})
    missing += _concepts_missing(config.get("concept_sets") or {}, built,
                                 (config.get("concept_downloads") or {}).get("mirror"))
    convis = config.get("convis") or {}
    if convis.get("enabled", True) and convis.get("hierarchy") == "wordnet":
        missing += _wordnet_missing("convis.hierarchy: world (WordNet is not installed)")
    return list(dict.fromkeys(missing))


def _clip_used(config: Mapping, key: str) -> bool:
    """Whether any method or analysis of ``config`` uses CLIP model ``key``."""
    users = [m.get("clip_model", "world") for m in (config.get("methods") or {}).values()]
    users += [(config.get(k) or {}).get("clip_model", "world")
              for k in ("metrics", "stability", "convis")]
    return key in users


def check_requirements(config: Mapping, results_dir: str | os.PathLike | None = None,
                       config_name: str = "the configuration") -> None:
    """Raise :class:`MissingRequirementsError` listing everything missing, if anything is."""
    missing = missing_requirements(config, results_dir)
    if missing:
        raise MissingRequirementsError(missing, config_name)
