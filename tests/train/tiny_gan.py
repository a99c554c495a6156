"""A tiny conditional GAN and an in-memory pair dataset for trainer tests.

Small enough to train in milliseconds, but with everything the trainer must
handle: dropout in G, batch norm in D (buffers under DDP), an image pool, and
discriminator terms keyed "<disc>/<term>".
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from bench.models.base import PoseTransferModel
from bench.train.losses import GANLoss, ImagePool, l1_loss

H, W, K = 16, 8, 18


class TinyGAN(PoseTransferModel):
    def __init__(self, width: int = 8, pool_size: int = 2, gan_mode: str = "lsgan"):
        super().__init__()
        self.generator = nn.Sequential(
            nn.Conv2d(3 + 2 * K, width, 3, padding=1), nn.ReLU(), nn.Dropout(0.5), nn.Conv2d(width, 3, 3, padding=1), nn.Tanh()
        )
        self.discriminators = nn.ModuleDict({
            "D": nn.Sequential(
                nn.Conv2d(3 + K, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
                nn.Dropout(0.5), nn.Conv2d(width, 1, 3, padding=1),
            )
        })
        self.pools = nn.ModuleDict({"D": ImagePool(pool_size)})
        self.gan = GANLoss(gan_mode)

    def forward(self, batch):
        return self.generator(torch.cat((batch["source"], batch["source_pose"], batch["target_pose"]), 1))

    def generator_losses(self, batch, fake):
        judged = self.discriminators["D"](torch.cat((fake, batch["target_pose"]), 1))
        return {"l1": 10 * l1_loss(fake, batch["target"]), "gan": self.gan(judged, True)}

    def discriminator_losses(self, batch, fake):
        d = self.discriminators["D"]
        real = torch.cat((batch["target"], batch["target_pose"]), 1)
        pooled = self.pools["D"].query(torch.cat((fake, batch["target_pose"]), 1))
        return {"D/real": 0.5 * self.gan(d(real), True), "D/fake": 0.5 * self.gan(d(pooled), False)}

    def metadata(self):
        return {"terms": ["l1", "gan"]}


class TinyPairs(Dataset):
    """``n`` pairs of per-item batch dicts (what ``PairDataset`` yields), fixed by ``seed``.

    The "target" is the source shifted by one pixel, so a generator can learn it.
    """

    def __init__(self, n: int = 12, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(n):
            source = torch.rand(3, H, W, generator=g) * 2 - 1
            self.items.append({
                "source": source,
                "source_pose": torch.rand(K, H, W, generator=g),
                "target": torch.roll(source, 1, dims=-1),  # learnable by a 3x3 conv
                "target_pose": torch.rand(K, H, W, generator=g),
                "source_keypoints": torch.randint(0, H, (K, 2), generator=g).float(),
                "target_keypoints": torch.randint(0, H, (K, 2), generator=g).float(),
                "from": f"img{i:03d}.jpg",
                "to": f"img{(i + 1) % n:03d}.jpg",
            })

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return dict(self.items[index])


def fixed_batch_l1(model: TinyGAN, batch) -> float:
    """The generator's L1 term on ``batch`` in eval mode (no dropout, no gradients): what a trainer test watches fall."""
    model.eval()
    with torch.no_grad():
        return model.generator_losses(batch, model(batch))["l1"].item()
