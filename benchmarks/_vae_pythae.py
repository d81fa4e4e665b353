"""pythae side of benchmarks/vae.py, run inside the pythae anchor venv (see _anchors.py).

The encoder/decoder are genzoo's own ConvEncoder/ConvDecoder, so both systems train exactly the same
network and the comparison measures the libraries (training loop, objective, estimator), not architectures.
Usage: python _vae_pythae.py MODE EPOCHS OUT_JSON [fused]   (MODE: time | full; fused: Adam with the fused
kernel, as genzoo's, so that a comparison of the loops is not one of optimizer implementations)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import numpy as np
import torch
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.pipelines import TrainingPipeline
from pythae.samplers import NormalSampler
from pythae.trainers import BaseTrainerConfig

import genzoo as gz
from genzoo.nn.convnets import ConvDecoder, ConvEncoder

LATENT, HIDDEN, BATCH, LR = 16, 32, 128, 1e-3


class Encoder(BaseEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.body = ConvEncoder(1, 28, 28, HIDDEN, 2)
        self.head = torch.nn.Linear(self.body.out_features, 2 * LATENT)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)
        return ModelOutput(embedding=mu, log_covariance=logvar)


class Decoder(BaseDecoder):
    def __init__(self) -> None:
        super().__init__()
        self.body = ConvDecoder(LATENT, 1, 28, 28, HIDDEN, 2)

    def forward(self, z: torch.Tensor) -> ModelOutput:
        return ModelOutput(reconstruction=torch.sigmoid(self.body(z)))


def main() -> None:
    mode, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fused = len(sys.argv) > 4 and sys.argv[4] == "fused"
    torch.manual_seed(0)
    train = gz.data.load("mnist5k", split="train").images.numpy()
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    with tempfile.TemporaryDirectory() as tmp:
        cfg = BaseTrainerConfig(output_dir=tmp, num_epochs=epochs, per_device_train_batch_size=BATCH,
                                learning_rate=LR, no_cuda=True, steps_saving=None, seed=0,
                                optimizer_cls="Adam", optimizer_params={"fused": True} if fused else None)
        t = time.perf_counter()
        TrainingPipeline(model=model, training_config=cfg)(train_data=train)
        seconds = time.perf_counter() - t
    steps = epochs * int(np.ceil(len(train) / BATCH))
    result = {"seconds": seconds, "steps": steps, "images_per_s": steps * BATCH / seconds}
    if mode == "full":
        model.eval()
        test = torch.from_numpy(gz.data.load("mnist5k", split="test").images.numpy())
        torch.manual_seed(0)
        # pythae names it get_nll but returns the mean log-likelihood (negative); NLL is its negation
        result["nll_nats"] = -float(model.get_nll(test, n_samples=100, batch_size=100))
        samples = NormalSampler(model=model).sample(num_samples=1000)
        np.save(out.replace(".json", "_samples.npy"), samples.detach().numpy())
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
