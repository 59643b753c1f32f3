"""The same Seq2Seq training step written as a PyTorch user would: nn.LSTM, CPU.

Encoder and decoder are 2-layer LSTMs; the encoder's final (h, c) starts the
decoder; full softmax cross-entropy over the vocabulary; Adam with global-norm
clipping at 5, as in mtask_tf. Three ways a PyTorch user runs it: eager float32,
eager under `torch.autocast("cpu", dtype=torch.bfloat16)` (bfloat16 matmuls,
float32 weights and optimizer: PyTorch's mixed precision), and `torch.compile`
of the model (float32). PyTorch is a benchmark-only extra (`make bench`
installs it); without it `available()` is False.
"""

import contextlib

from benchmarks import stats

MODES = ("eager", "autocast_bf16", "compile")


class Unsupported(RuntimeError):
    """A mode this machine's PyTorch build cannot run (e.g. bfloat16 on an AVX2-only CPU)."""


def unsupported(mode):
    """Why `mode` cannot run here, or None when it can."""
    import torch

    if mode == "autocast_bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        capability = torch.backends.cpu.get_cpu_capability()
        return (
            f"PyTorch has no oneDNN bfloat16 kernels on this CPU ({capability}); "
            "its bfloat16 LSTM needs AVX-512 or AMX"
        )
    return None


def available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def model(shapes, speakers=0, seed=1):
    """The Seq2Seq as an nn.Module; with `speakers`, a persona decoder (speaker embedding input)."""
    import torch
    from torch import nn

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            e, u, layers = shapes.embedding_dim, shapes.units, shapes.num_layers
            k = shapes.speaker_dim if speakers else 0
            self.source_embedding = nn.Embedding(shapes.vocabulary_size, e)
            self.target_embedding = nn.Embedding(shapes.vocabulary_size, e)
            self.speaker_embedding = nn.Embedding(speakers, k) if speakers else None
            self.encoder = nn.LSTM(e, u, layers, batch_first=True)
            self.decoder = nn.LSTM(e + k, u, layers, batch_first=True)
            self.output = nn.Linear(u, shapes.vocabulary_size)
            for p in self.parameters():
                nn.init.uniform_(p, -0.1, 0.1)

        def decoder_input(self, target_in, speaker=None):
            embedded = self.target_embedding(target_in)
            if self.speaker_embedding is None:
                return embedded
            persona = self.speaker_embedding(speaker)[:, None, :]
            return torch.cat([embedded, persona.expand(-1, embedded.shape[1], -1)], dim=-1)

        def forward(self, source, target_in):
            _, state = self.encoder(self.source_embedding(source))
            outputs, _ = self.decoder(self.decoder_input(target_in), state)
            return self.output(outputs)

    torch.manual_seed(seed)
    return Seq2Seq()


def measure(shapes, warmup, repetitions, mode="eager"):
    """Target tokens/s samples of one training step each, and what ran.

    mode: "eager", "autocast_bf16" or "compile" (see the module docstring).
    """
    import torch

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    reason = unsupported(mode)
    if reason:
        raise Unsupported(reason)
    net = model(shapes)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    forward = torch.compile(net) if mode == "compile" else net
    loss_fn = torch.nn.CrossEntropyLoss()
    ids = lambda length: torch.randint(4, shapes.vocabulary_size, (shapes.batch_size, length))
    source, target_in = ids(shapes.source_length), ids(shapes.target_length)
    target_out = ids(shapes.target_length)
    precision = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        if mode == "autocast_bf16"
        else contextlib.nullcontext
    )
    losses = []

    def step():
        optimizer.zero_grad()
        with precision():
            logits = forward(source, target_in)
            loss = loss_fn(logits.reshape(-1, shapes.vocabulary_size), target_out.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()
        losses.append(loss.item())

    seconds = stats.time_calls(step, repetitions, warmup)
    return stats.rates(shapes.batch_size * shapes.target_length, seconds), {
        "mode": mode,
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }
