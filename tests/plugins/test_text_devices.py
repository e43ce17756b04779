"""The text plugin's Transformers train on the requested device: every
tensor the training loop and the network's forward pass create follows it
(checked on the CPU with :class:`FactoryDeviceCheck`), and the trained
network comes back to the CPU, where decoding and likelihoods run."""

from __future__ import annotations

from pathlib import Path

import genbench_text
import pytest
import torch
from device_check import FactoryDeviceCheck
from genbench_text import plugin, training
from genbench_text.specs import model_specs
from test_text_plugin import TinyTask

from genbench.checkpoints import Checkpoint

CPU = torch.device("cpu")


@pytest.mark.parametrize("name", ["transformer", "transformer-speculative-tdraft"])
def test_transformer_training_creates_every_tensor_on_the_requested_device(
    name, tmp_path, monkeypatch
):
    check = FactoryDeviceCheck(CPU, Path(genbench_text.__file__).parent)
    stream = training.token_stream

    def host_stream(*args, **kwargs):  # host data, moved to the device by the loop
        with check.paused():
            return stream(*args, **kwargs)

    monkeypatch.setattr(training, "token_stream", host_stream)
    spec = next(s for s in model_specs() if s.name == name)
    train = training.train_language_model

    def checked(*args, **kwargs):
        with check:
            return train(*args, **kwargs)

    monkeypatch.setattr(plugin, "train_language_model", checked)
    model = plugin.fit(
        spec=spec,
        task=TinyTask(),
        budget="smoke",
        seed=0,
        checkpoint=Checkpoint(tmp_path, {"network": name}),
        device=CPU,
    )
    assert check.offences == [], "\n".join(sorted(set(check.offences)))
    assert all(p.device == CPU for p in model.network.parameters())
    assert len(plugin.sample(model=model, n=2, seed=1)) == 2
