"""The paper's beam search written as a PyTorch user would: eager, nn.LSTM one step at a time.

The procedure is mtask_tf's (`mtask_tf/decoding/beam_search.py`, paper section
6.4): B live hypotheses; at each step a hypothesis's EOS extension joins the
finished list if EOS is among its B most probable next words; the B best
non-EOS extensions over all beams stay live; at the last step every live
hypothesis ends with EOS; every finished hypothesis is kept (the full N-best
list), sorted by log-probability. PAD, BOS and <unk> are never proposed, nor EOS
first. The model is `reference_torch.model` with a persona decoder, the same
shapes as mtask_tf's beam figure.
"""

from benchmarks import reference_torch
from benchmarks import stats
from mtask_tf.data.vocabulary import BOS_ID as BOS
from mtask_tf.data.vocabulary import EOS_ID as EOS
from mtask_tf.data.vocabulary import PAD_ID as PAD
from mtask_tf.data.vocabulary import UNK_ID as UNK


def beam_search(net, source, speaker, beam_size, max_length):
    """int64 source [1, time], speaker [1] -> scores [n], tokens [n, max_length], best first."""
    import torch

    _, (h, c) = net.encoder(net.source_embedding(source))
    state = (h.repeat(1, beam_size, 1), c.repeat(1, beam_size, 1))
    speakers = speaker.repeat(beam_size)
    scores = torch.full((beam_size,), float("-inf"))
    scores[0] = 0.0  # all beams start as the same BOS prefix: expand only one
    tokens = torch.full((beam_size, 1), BOS, dtype=torch.long)
    finished_scores, finished_tokens = [], []

    def finish(rows, score):
        ended = torch.cat([tokens[rows, 1:], torch.full((len(rows), 1), EOS)], dim=1)
        finished_scores.append(score)
        finished_tokens.append(torch.nn.functional.pad(ended, (0, max_length - ended.shape[1])))

    for step in range(max_length):
        outputs, state = net.decoder(net.decoder_input(tokens[:, -1:], speakers), state)
        log_probs = torch.log_softmax(net.output(outputs[:, 0]).float(), dim=-1)
        log_probs[:, [PAD, BOS, UNK]] = float("-inf")
        if step == 0:
            log_probs[:, EOS] = float("-inf")
        total = scores[:, None] + log_probs
        live = torch.isfinite(scores)
        if step == max_length - 1:  # the last token can only be EOS
            finish(live.nonzero()[:, 0], total[live, EOS])
            break
        eos_in_top = (log_probs.topk(beam_size, dim=-1).indices == EOS).any(dim=-1) & live
        if eos_in_top.any():
            finish(eos_in_top.nonzero()[:, 0], total[eos_in_top, EOS])
        total[:, EOS] = float("-inf")
        scores, flat = total.view(-1).topk(beam_size)
        beams, words = flat // total.shape[1], flat % total.shape[1]
        state = (state[0][:, beams], state[1][:, beams])
        tokens = torch.cat([tokens[beams], words[:, None]], dim=1)
        speakers = speakers[beams]
    scores = torch.cat(finished_scores)
    order = scores.argsort(descending=True)
    return scores[order], torch.cat(finished_tokens)[order]


def measure(shapes, repetitions, beam_size=50, max_length=20, speakers=8):
    """Seconds of each search of one request (batch 1), and what ran."""
    import torch

    net = reference_torch.model(shapes, speakers=speakers, seed=2).eval()
    source = torch.randint(4, shapes.vocabulary_size, (1, shapes.source_length // 2))
    speaker = torch.zeros(1, dtype=torch.long)
    candidates = []

    def search():
        with torch.inference_mode():
            scores, _ = beam_search(net, source, speaker, beam_size, max_length)
        candidates.append(len(scores))

    seconds = stats.time_calls(search, repetitions)
    return seconds, {
        "candidates": candidates[-1],
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
    }
