"""`hf:owner/name[@revision]`: a model repository on the Hugging Face hub, through `huggingface_hub`'s cache.

The snapshot is whatever the repository holds: a genzoo run (config.json with "format": "genzoo-model") or a
`transformers` folder; `genzoo.load` reads either. Only the files genzoo reads are fetched (never a pickle).
With HF_HUB_OFFLINE=1 the local cache answers alone, and a repository that is not in it is one plain line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError

PREFIX = "hf:"
#: what genzoo reads from a repository: configs, safetensors weights and tokenizer files
FILES = ["*.json", "*.safetensors", "*.txt", "*.model"]


def is_hub_id(path: str | os.PathLike[str]) -> bool:
    return isinstance(path, str) and path.startswith(PREFIX)


def _offline() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it once, when first imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def snapshot(spec: str) -> Path:
    """The local folder holding `hf:owner/name[@revision]`, downloaded unless offline or cached."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    repo, _, revision = spec[len(PREFIX):].partition("@")
    try:
        return Path(snapshot_download(repo, revision=revision or None, allow_patterns=FILES,
                                      local_files_only=_offline()))
    except LocalEntryNotFoundError:
        raise GenzooError(f"{spec} is not in the local Hugging Face cache and the hub cannot be reached "
                          f"({'HF_HUB_OFFLINE=1' if _offline() else 'no connection'}); fetch it once online") from None
    except HFValidationError as e:
        raise GenzooError(f"{spec} is not a hub repository id: {str(e).splitlines()[0]}") from None
    except HfHubHTTPError as e:
        raise GenzooError(f"{spec}: the hub refused ({str(e).splitlines()[0]})") from None


def push(folder: Path, repo: str, private: bool = False, **upload: Any) -> str:
    """Upload a saved folder to the hub repository `repo` (created if missing); returns its commit URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, private=private, exist_ok=True)
    return str(api.upload_folder(repo_id=repo, folder_path=str(folder), **upload))
