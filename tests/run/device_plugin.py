"""Test doubles for device handling, loaded with ``--plugin``: ``dev-oom``
runs out of device memory while fitting (the error torch raises for CUDA,
simulated on the CPU); ``dev-where`` reports the device its ``fit`` was
handed as ``model_info`` (``fit_on_cpu``: 1 or 0)."""

from __future__ import annotations

import torch

from genbench import LogLikelihood, ModelSpec, hookimpl


class DeviceModel:
    def __init__(self, centre: torch.Tensor, device: torch.device) -> None:
        self.centre, self.device = centre, device


@hookimpl
def register_models(register):
    for name in ("dev-oom", "dev-where"):
        register(
            ModelSpec(
                name=name,
                family="device-test",
                modalities=("toy",),
                capabilities={"sample", "log_likelihood"},
                description=f"test double: {name}",
            )
        )


@hookimpl
def fit(spec, task, budget, seed, checkpoint, device):
    if spec.family != "device-test":
        return None
    if spec.name == "dev-oom":
        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 139.8 GiB total)\nmore"
        )
    return DeviceModel(task.load().train.mean(dim=0).to(device), device)


@hookimpl
def sample(model, n, seed):
    if not isinstance(model, DeviceModel):
        return None
    generator = torch.Generator(device=model.device).manual_seed(seed)
    drawn = model.centre + torch.randn((n, 2), generator=generator, device=model.device)
    return drawn.cpu()


@hookimpl
def log_likelihood(model, x):
    if not isinstance(model, DeviceModel):
        return None
    nats = torch.distributions.Normal(model.centre.double(), 1.0).log_prob(x.double()).sum(1)
    return LogLikelihood(nats=nats.cpu().numpy(), exact=True)


@hookimpl
def model_info(model):
    if not isinstance(model, DeviceModel):
        return None
    return {"fit_on_cpu": float(model.device.type == "cpu")}
