"""The same Seq2Seq training step written as a PyTorch user would: eager, nn.LSTM, CPU.

Encoder and decoder are 2-layer LSTMs; the encoder's final (h, c) starts the
decoder; full softmax cross-entropy over the vocabulary; Adam with global-norm
clipping at 5, as in mtask_tf. PyTorch is a benchmark-only extra (`make bench`
installs it); without it `available()` is False.
"""

from benchmarks import stats


def available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _model(shapes):
    import torch
    from torch import nn

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            e, u, layers = shapes.embedding_dim, shapes.units, shapes.num_layers
            self.source_embedding = nn.Embedding(shapes.vocabulary_size, e)
            self.target_embedding = nn.Embedding(shapes.vocabulary_size, e)
            self.encoder = nn.LSTM(e, u, layers, batch_first=True)
            self.decoder = nn.LSTM(e, u, layers, batch_first=True)
            self.output = nn.Linear(u, shapes.vocabulary_size)
            for p in self.parameters():
                nn.init.uniform_(p, -0.1, 0.1)

        def forward(self, source, target_in):
            _, state = self.encoder(self.source_embedding(source))
            outputs, _ = self.decoder(self.target_embedding(target_in), state)
            return self.output(outputs)

    torch.manual_seed(1)
    return Seq2Seq()


def measure(shapes, warmup, repetitions):
    """Target tokens/s samples of one training step each."""
    import torch

    model = _model(shapes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    ids = lambda length: torch.randint(4, shapes.vocabulary_size, (shapes.batch_size, length))
    source, target_in = ids(shapes.source_length), ids(shapes.target_length)
    target_out = ids(shapes.target_length)

    def step():
        optimizer.zero_grad()
        logits = model(source, target_in)
        loss = loss_fn(logits.reshape(-1, shapes.vocabulary_size), target_out.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return loss.item()

    seconds = stats.time_calls(step, repetitions, warmup)
    return stats.rates(shapes.batch_size * shapes.target_length, seconds), {
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
    }
