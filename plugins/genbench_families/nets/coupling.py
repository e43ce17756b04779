"""Residual conditioners for RealNVP's coupling layers (Dinh et al., 2017,
used residual networks here): a stem to ``width`` features, ``blocks``
pre-activation residual blocks and an output layer initialised to zero, so
a new coupling is the identity, or to small random weights. One class
serves feature maps (3x3 convolutions) and vectors (linear layers)."""

from __future__ import annotations

from torch import Tensor, nn


class ResidualConditioner(nn.Module):
    """``B x in (x H x W) → B x out (x H x W)``.

    Args:
        in_features, out_features: channels (images) or coordinates (vectors).
        width: hidden channels or units.
        blocks: residual blocks ``h + f(SiLU(g(SiLU(h))))``, ``>= 0``.
        spatial: 3x3 convolutions on ``B x C x H x W`` when True, linear
            layers on ``B x D`` when False.
        out_std: standard deviation of the output layer's initial weights
            (its bias starts at zero); 0 makes a new coupling the identity.
            A flow of identity couplings sits at a stationary point on
            symmetric data such as ``toy/grid25``, where every conditional
            mean and variance is constant; small random weights break it.

    Raises:
        ValueError: ``blocks < 0`` or ``out_std < 0``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int,
        blocks: int,
        spatial: bool,
        out_std: float = 0.0,
    ) -> None:
        super().__init__()
        if blocks < 0 or out_std < 0:
            raise ValueError(f"need blocks >= 0 and out_std >= 0, got {blocks}, {out_std}")

        def layer(a: int, b: int) -> nn.Module:
            return nn.Conv2d(a, b, 3, 1, 1) if spatial else nn.Linear(a, b)

        self.stem = layer(in_features, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), layer(width, width), nn.SiLU(), layer(width, width))
            for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.SiLU(), layer(width, out_features))
        nn.init.normal_(self.out[-1].weight, std=out_std)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)
