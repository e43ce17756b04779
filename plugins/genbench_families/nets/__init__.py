"""Per-modality network factories.

Every modality module offers the same factories (``vae_networks``,
``gan_networks``, ``denoiser``, ``conditioner``, ``autoregressive_network``)
with the same contracts, so the families' algorithms are written once:
``image`` (conv nets on ``C x H x W``), ``toy`` (MLPs on vectors) and
``audio`` (1-D conv nets on ``C x T`` waveforms, a WaveNet from :mod:`.wavenet`). A new modality
adds a module here and an entry in :data:`FACTORIES`.
"""

from __future__ import annotations

from types import ModuleType

from genbench_families.nets import audio, image, toy

FACTORIES: dict[str, ModuleType] = {"image": image, "toy": toy, "audio": audio}


def factory_for(modality: str) -> ModuleType:
    """The network factory module for ``modality``.

    Raises:
        ValueError: no networks exist for the modality.
    """
    if modality not in FACTORIES:
        raise ValueError(f"no networks for modality {modality!r}; available: {sorted(FACTORIES)}")
    return FACTORIES[modality]
