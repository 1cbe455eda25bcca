#!/usr/bin/env python3
"""Training throughput of the official PyTorch PatchTST (yuqinie98/PatchTST) on ETTh1, PatchTST/42.

Imports the model from a checkout of the official code (its PatchTST_supervised folder, given by
--patchtst or $PATCHTST_DIR; nothing of it is copied here) and trains it as its run_longExp.py /
exp_main.py do (Adam, MSE, batches of 128 samples × 7 channels = 896 windows), with the
configuration of scripts/PatchTST/etth1.sh (L = 336, H = 96, 3 layers, d_model 16, 4 heads,
d_ff 128, dropout 0.3, fc_dropout 0.3, head_dropout 0, patch 16, stride 8, padding 'end': 42
patches; RevIN without affine). Prints windows/s (one window = one channel's lookback + horizon,
as bench_train counts) and windows per CPU second.

usage: patchtst_torch.py [--patchtst DIR] [--data ETTh1.csv] [--threads 2] [--steps 30]
Needs python3-torch and python3-pandas (Debian 12: apt-get install python3-torch python3-pandas).
"""
import argparse
import os
import sys
import time
import types


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--patchtst", default=os.environ.get("PATCHTST_DIR", ""),
                    help="the PatchTST_supervised folder of the official code")
    ap.add_argument("--data", default=os.path.join(os.environ.get("REINPATCH_DATA", "."), "ETTh1.csv"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128, help="samples per step (× 7 channels)")
    ap.add_argument("--seed", type=int, default=2021)
    a = ap.parse_args()
    if not a.patchtst or not os.path.isfile(os.path.join(a.patchtst, "models", "PatchTST.py")):
        sys.exit("patchtst_torch: --patchtst (or $PATCHTST_DIR) must name the official PatchTST_supervised folder")
    if not os.path.isfile(a.data):
        sys.exit(f"patchtst_torch: {a.data}: no such file (set --data or $REINPATCH_DATA)")
    sys.path.insert(0, a.patchtst)
    import numpy as np
    import pandas as pd
    import torch
    from models.PatchTST import Model

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    # ETTh1 as the official Dataset_ETT_hour: 12/4/4 months, z-scored with the train split's stats.
    df = pd.read_csv(a.data)
    values = df[df.columns[1:]].to_numpy(dtype=np.float32)
    train_end = 12 * 30 * 24
    train = values[:train_end]
    train = (train - train.mean(0)) / train.std(0)
    L, H = 336, 96
    n_samples = train_end - L - H + 1
    C = train.shape[1]

    cfg = types.SimpleNamespace(
        enc_in=C, seq_len=L, pred_len=H, e_layers=3, n_heads=4, d_model=16, d_ff=128, dropout=0.3,
        fc_dropout=0.3, head_dropout=0.0, individual=0, patch_len=16, stride=8, padding_patch="end",
        revin=1, affine=0, subtract_last=0, decomposition=0, kernel_size=25)
    model = Model(cfg).float()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.MSELoss()
    data = torch.from_numpy(train)

    def step(idx):
        x = torch.stack([data[i:i + L] for i in idx])
        y = torch.stack([data[i + L:i + L + H] for i in idx])
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    order = rng.permutation(n_samples)
    for s in range(3):  # warm-up
        step(order[s * a.batch:(s + 1) * a.batch])
    w0, c0 = time.perf_counter(), time.process_time()
    for s in range(a.steps):
        lo = ((s + 3) * a.batch) % (n_samples - a.batch)
        step(order[lo:lo + a.batch])
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    windows = a.steps * a.batch * C
    print(f"pytorch patchtst: torch {torch.__version__}  threads: {a.threads}  batch: {a.batch} samples x {C} channels")
    print(f"train windows/s: {windows / wall:.1f}  ({a.steps} steps of {a.batch * C} windows in {wall:.3f} s)")
    print(f"train CPU seconds: {cpu:.3f}  ({windows / cpu:.1f} windows per CPU second)")


if __name__ == "__main__":
    main()
