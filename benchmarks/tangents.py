"""Benchmark: tangent spaces by forward-mode Jacobians vs the naive per-pixel loop.

Builds a CIFAR-size decoder (latent 128 -> 3x32x32, channels 128/64/32 by default;
untrained: timing does not depend on the weights) and measures, per image, in one run:
  (a) fast:  ``decoder_jacobian`` (vmap of jvp over the k latent directions),
  (b) loop:  ``decoder_jacobian_reference``, one backward pass per pixel (few images),
  (c) bound: one decoder forward pass on k + 1 latents per image (the primal and the k
             tangents: what any forward-mode Jacobian must at least compute),
then prints fast/bound and loop/fast and asserts that fast and loop agree.

Timings are the minimum over repeats with the methods interleaved, in wall-clock and
in process CPU time (on a shared machine CPU time is the steadier of the two).

    python benchmarks/tangents.py [--images 4] [--batch-size 2] [--loop-images 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from pags.manifold.autoencoder import Autoencoder  # noqa: E402
from pags.manifold.tangents import decoder_jacobian, decoder_jacobian_reference, orthonormalise  # noqa: E402


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images for the fast method and the bound")
    parser.add_argument("--batch-size", type=int, default=2, help="images per Jacobian call (chunk size)")
    parser.add_argument("--loop-images", type=int, default=1, help="images for the per-pixel loop (slow)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (the minimum is reported)")
    parser.add_argument("--width", type=int, default=32, help="decoder channels 4w, 2w, w at 8x8, 16x16, 32x32")
    parser.add_argument("--latent", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compare", action="store_true", help="also time other torch.func routes (jacfwd, linearize)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module=r"torch\.fx\..*")  # linearize's tracer chatters about constants
    device = torch.device(args.device)
    torch.manual_seed(0)
    decoder = Autoencoder((3, 32, 32), args.latent, args.width).decoder.to(device).eval()
    k, n, b = args.latent, args.images, args.batch_size
    z = torch.randn(n, k, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def fast():
        out = [decoder_jacobian(decoder, z[i : i + b]) for i in range(0, n, b)]
        sync()
        return out

    def bound():
        with torch.no_grad():
            for i in range(0, n, b):
                m = len(z[i : i + b])
                decoder(torch.randn(m * (k + 1), k, device=device))  # a batch of k + 1 latents per image
        sync()

    def jacfwd_route():  # vmap over images of jacfwd (which vmaps jvp over the identity itself)
        with torch.no_grad():
            one = lambda w: decoder(w.unsqueeze(0)).flatten()  # noqa: E731
            out = [torch.func.vmap(torch.func.jacfwd(one))(z[i : i + b]) for i in range(0, n, b)]
        sync()
        return out

    def linearize_route():  # trace the linear map once per chunk, then vmap it over the identity
        with torch.no_grad():
            out = []
            for i in range(0, n, b):
                zb = z[i : i + b]
                _, linear = torch.func.linearize(decoder, zb)
                eye = torch.eye(k, device=device)
                out.append(torch.func.vmap(lambda v, linear=linear, zb=zb: linear(v.expand_as(zb)))(eye))
        sync()
        return out

    def basis():
        out = [orthonormalise(j) for j in jacobians]
        sync()
        return out

    methods = {"fast": fast, "bound": bound}
    if args.compare:
        methods.update(jacfwd=jacfwd_route, linearize=linearize_route)
    for fn in methods.values():  # warm-up: first-call costs (forward-AD setup, tracing) are not the method's
        fn()
    times = {name: [float("inf"), float("inf")] for name in (*methods, "svd")}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            wall, cpu, out = timed(fn)
            times[name] = [min(times[name][0], wall), min(times[name][1], cpu)]
            if name == "fast":
                jacobians = out
        wall, cpu, _ = timed(basis)
        times["svd"] = [min(times["svd"][0], wall), min(times["svd"][1], cpu)]
    per_image = {name: [t / n for t in v] for name, v in times.items()}

    m = args.loop_images
    wall, cpu, loop_jacobian = timed(lambda: decoder_jacobian_reference(decoder, z[:m]))
    per_image["loop"] = [wall / m, cpu / m]

    fast_jacobian = torch.cat(jacobians)[:m]
    diff = (fast_jacobian - loop_jacobian).abs().max().item()
    scale = loop_jacobian.abs().max().item()

    print(f"decoder: latent {k} -> 3x32x32, width {args.width}; device {device}, {args.threads} thread(s)")
    print(f"fast and bound on {n} images in chunks of {b}; loop on {m}; minimum of {args.repeats} repeats")
    print(f"{'per image':<34}{'wall s':>10}{'cpu s':>10}")
    labels = {
        "fast": "(a) fast: vmap(jvp) Jacobian",
        "loop": "(b) loop: one backward per pixel",
        "bound": "(c) bound: forward on k+1 latents",
        "svd": "    orthonormalise (SVD)",
        "jacfwd": "    other route: vmap(jacfwd)",
        "linearize": "    other route: linearize + vmap",
    }
    for name in ("fast", "loop", "bound", "svd", *[m for m in methods if m not in ("fast", "bound")]):
        print(f"{labels[name]:<34}{per_image[name][0]:>10.4f}{per_image[name][1]:>10.4f}")
    for label, (num, den) in {"fast / bound": ("fast", "bound"), "loop / fast": ("loop", "fast")}.items():
        ratio = [per_image[num][i] / per_image[den][i] for i in range(2)]
        print(f"{label:<34}{ratio[0]:>10.2f}{ratio[1]:>10.2f}")
    print(f"max |fast - loop| = {diff:.2e} (max |J| = {scale:.2e})")
    assert torch.allclose(fast_jacobian, loop_jacobian, rtol=1e-4, atol=1e-5 * scale), "fast and loop Jacobians differ"


if __name__ == "__main__":
    main()
