"""Two processes on CPU (gloo) train one model with DDP and end with identical weights."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import hashlib, os, sys
    import genzoo as gz
    train = gz.data.load("digits", split="train")
    model = gz.create("vae", data=train, latent_dim=4, hidden=8, downsamples=1)
    gz.fit(model, train, max_steps=6, batch_size=32, devices=2, accelerator="cpu", strategy="ddp",
           progress=False, seed=0, out=sys.argv[1])
    rank = os.environ.get("LOCAL_RANK", "0")
    h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
    open(os.path.join(sys.argv[1], f"rank{rank}.sha"), "w").write(h)
""")


def test_ddp_two_processes_end_with_identical_weights(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    h0, h1 = (out / "rank0.sha").read_text(), (out / "rank1.sha").read_text()
    assert h0 == h1
    assert (out / "model.safetensors").is_file()
