"""Golden values for package lstmcaption: sgrvinod's a-PyTorch-Tutorial-to-
Image-Captioning (snapshot cc9c7e2) models.py, train.py's loss and
caption.py's beam search, re-written in plain torch with the tutorial's
names, plus the paper's variants, corpus BLEU and the word map JSON.

Groups (prefix of every tensor name):
  tutorial   DecoderWithAttention (ReLU attention, vector gate, linear init
             state, fc) in eval mode (no dropout) on 4 captions of distinct
             lengths given unsorted: predictions, alphas, sort_ind, and
             train.py's loss (packed cross-entropy + alpha_c=1 doubly
             stochastic term) with PyTorch 1.13 autograd gradients of every
             parameter and of encoder_out
  paper      the same with tanh attention, a scalar gate, tanh init_h/init_c
             and the deep output layer fc(tanh(emb + logit_h(h) + logit_z(z)));
             the paper's and arctic-captions' loss normalisations, gradients
             of the paper-normalised loss
  beam, open caption.py's caption_image_beam_search (k=3, with // for the
             beam index) and greedy decoding (k=1) on small models: 3 images
             whose captions complete, 1 image whose beams never reach <end>
  bleu       corpus BLEU-1..4 with NLTK's corpus_bleu semantics, computed by
             the plain-Python re-implementation below (NLTK is not installed)
             on random corpora; scores stored as float32

Also writes lstmcaption/testdata/WORDMAP_test.json with the tutorial's
create_input_files code (Counter, min_word_freq, json.dump).

Run: /usr/bin/python3 testdata/gen/lstmcaption.py
       (writes lstmcaption/testdata/lstmcaption.safetensors and WORDMAP_test.json)

     /usr/bin/python3 testdata/gen/lstmcaption.py bench
       times greedy decoding of 20 words over 14x14x2048 features, decoder 512,
       vocab 10000, B=1, one thread, median ms; run alternately with
       go test -run X -bench Greedy -cpu 1 ./lstmcaption/
"""
import json
import math
import os
import sys
import time
from collections import Counter
from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from goldens import ROOT, save, grads


# ------------------------------------------------------------------ models.py
class Attention(nn.Module):
    def __init__(self, encoder_dim, decoder_dim, attention_dim, act=torch.relu):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.act = act
        self.softmax = nn.Softmax(dim=1)

    def forward(self, encoder_out, decoder_hidden):
        att1 = self.encoder_att(encoder_out)
        att2 = self.decoder_att(decoder_hidden)
        att = self.full_att(self.act(att1 + att2.unsqueeze(1))).squeeze(2)
        alpha = self.softmax(att)
        attention_weighted_encoding = (encoder_out * alpha.unsqueeze(2)).sum(dim=1)
        return attention_weighted_encoding, alpha


class DecoderWithAttention(nn.Module):
    """The tutorial's decoder; paper=True switches on the paper's variants
    (tanh attention, scalar gate, tanh initial state, deep output layer)."""

    def __init__(self, attention_dim, embed_dim, decoder_dim, vocab_size, encoder_dim=2048, dropout=0.5,
                 paper=False):
        super().__init__()
        self.encoder_dim = encoder_dim
        self.attention_dim = attention_dim
        self.embed_dim = embed_dim
        self.decoder_dim = decoder_dim
        self.vocab_size = vocab_size
        self.dropout = dropout
        self.paper = paper

        self.attention = Attention(encoder_dim, decoder_dim, attention_dim, torch.tanh if paper else torch.relu)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.dropout = nn.Dropout(p=self.dropout)
        self.decode_step = nn.LSTMCell(embed_dim + encoder_dim, decoder_dim, bias=True)
        self.init_h = nn.Linear(encoder_dim, decoder_dim)
        self.init_c = nn.Linear(encoder_dim, decoder_dim)
        self.f_beta = nn.Linear(decoder_dim, 1 if paper else encoder_dim)
        self.sigmoid = nn.Sigmoid()
        self.fc = nn.Linear(embed_dim if paper else decoder_dim, vocab_size)
        if paper:
            self.logit_h = nn.Linear(decoder_dim, embed_dim)
            self.logit_z = nn.Linear(encoder_dim, embed_dim)
        self.init_weights()

    def init_weights(self):
        self.embedding.weight.data.uniform_(-0.1, 0.1)
        self.fc.bias.data.fill_(0)
        self.fc.weight.data.uniform_(-0.1, 0.1)

    def init_hidden_state(self, encoder_out):
        mean_encoder_out = encoder_out.mean(dim=1)
        h = self.init_h(mean_encoder_out)
        c = self.init_c(mean_encoder_out)
        if self.paper:
            h, c = torch.tanh(h), torch.tanh(c)
        return h, c

    def out(self, h, emb, awe):
        if self.paper:
            return self.fc(self.dropout(torch.tanh(emb + self.logit_h(h) + self.logit_z(awe))))
        return self.fc(self.dropout(h))

    def forward(self, encoder_out, encoded_captions, caption_lengths):
        batch_size = encoder_out.size(0)
        encoder_dim = encoder_out.size(-1)
        vocab_size = self.vocab_size
        encoder_out = encoder_out.view(batch_size, -1, encoder_dim)
        num_pixels = encoder_out.size(1)
        caption_lengths, sort_ind = caption_lengths.squeeze(1).sort(dim=0, descending=True)
        encoder_out = encoder_out[sort_ind]
        encoded_captions = encoded_captions[sort_ind]
        embeddings = self.embedding(encoded_captions)
        h, c = self.init_hidden_state(encoder_out)
        decode_lengths = (caption_lengths - 1).tolist()
        predictions = torch.zeros(batch_size, max(decode_lengths), vocab_size)
        alphas = torch.zeros(batch_size, max(decode_lengths), num_pixels)
        for t in range(max(decode_lengths)):
            batch_size_t = sum([l > t for l in decode_lengths])
            attention_weighted_encoding, alpha = self.attention(encoder_out[:batch_size_t], h[:batch_size_t])
            gate = self.sigmoid(self.f_beta(h[:batch_size_t]))
            attention_weighted_encoding = gate * attention_weighted_encoding
            emb = embeddings[:batch_size_t, t, :]
            h, c = self.decode_step(torch.cat([emb, attention_weighted_encoding], dim=1),
                                    (h[:batch_size_t], c[:batch_size_t]))
            preds = self.out(h, emb, attention_weighted_encoding)
            predictions[:batch_size_t, t, :] = preds
            alphas[:batch_size_t, t, :] = alpha
        return predictions, encoded_captions, decode_lengths, alphas, sort_ind


# ------------------------------------------------------------------ train.py
def tutorial_loss(scores, caps_sorted, decode_lengths, alphas, alpha_c=1.0):
    targets = caps_sorted[:, 1:]
    # train.py writes `scores, _ = pack_padded_sequence(...)` (PyTorch <= 1.0); .data is the same tensor.
    scores = pack_padded_sequence(scores, decode_lengths, batch_first=True).data
    targets = pack_padded_sequence(targets, decode_lengths, batch_first=True).data
    ce = nn.CrossEntropyLoss()(scores, targets)
    reg = ((1. - alphas.sum(dim=1)) ** 2).mean()
    return ce + alpha_c * reg, ce, reg


def paper_losses(scores, caps_sorted, decode_lengths, alphas, alpha_c=1.0):
    """Eq. (14) averaged over the batch, and arctic-captions' capgen.py."""
    b = scores.size(0)
    logp = F.log_softmax(scores, dim=2)
    nll = 0.
    for i, n in enumerate(decode_lengths):
        nll = nll - logp[i, torch.arange(n), caps_sorted[i, 1:n + 1]].sum()
    nll = nll / b
    sq = (1. - alphas.sum(dim=1)) ** 2           # (B, P)
    paper_reg = sq.sum(dim=1).mean()             # sum over pixels, mean over captions
    a_tbp = alphas.transpose(0, 1)               # Theano's (T, B, P)
    arctic_reg = ((1. - a_tbp.sum(0)) ** 2).sum(0).mean()
    return (nll + alpha_c * paper_reg, nll, paper_reg), (nll + alpha_c * arctic_reg, nll, arctic_reg)


# ------------------------------------------------------------------ caption.py
@torch.no_grad()
def beam_search(decoder, encoder_out, word_map, beam_size=3, max_steps=50):
    """caption_image_beam_search after the encoder, for one image
    encoder_out (1, enc, enc, Denc), with // for the beam index (issue #175)
    and the best live beam when none completes (issue #142)."""
    k = beam_size
    vocab_size = len(word_map)
    enc_image_size = encoder_out.size(1)
    enc_w = encoder_out.size(2)
    encoder_dim = encoder_out.size(3)
    encoder_out = encoder_out.view(1, -1, encoder_dim)
    num_pixels = encoder_out.size(1)
    encoder_out = encoder_out.expand(k, num_pixels, encoder_dim)
    k_prev_words = torch.LongTensor([[word_map['<start>']]] * k)
    seqs = k_prev_words
    top_k_scores = torch.zeros(k, 1)
    seqs_alpha = torch.ones(k, 1, enc_image_size, enc_w)
    complete_seqs, complete_seqs_alpha, complete_seqs_scores = [], [], []
    step = 1
    h, c = decoder.init_hidden_state(encoder_out)
    while True:
        embeddings = decoder.embedding(k_prev_words).squeeze(1)
        awe, alpha = decoder.attention(encoder_out, h)
        alpha = alpha.view(-1, enc_image_size, enc_w)
        gate = decoder.sigmoid(decoder.f_beta(h))
        awe = gate * awe
        h, c = decoder.decode_step(torch.cat([embeddings, awe], dim=1), (h, c))
        scores = decoder.out(h, embeddings, awe)
        scores = F.log_softmax(scores, dim=1)
        scores = top_k_scores.expand_as(scores) + scores
        if step == 1:
            top_k_scores, top_k_words = scores[0].topk(k, 0, True, True)
        else:
            top_k_scores, top_k_words = scores.view(-1).topk(k, 0, True, True)
        prev_word_inds = top_k_words // vocab_size
        next_word_inds = top_k_words % vocab_size
        seqs = torch.cat([seqs[prev_word_inds], next_word_inds.unsqueeze(1)], dim=1)
        seqs_alpha = torch.cat([seqs_alpha[prev_word_inds], alpha[prev_word_inds].unsqueeze(1)], dim=1)
        incomplete_inds = [ind for ind, next_word in enumerate(next_word_inds) if next_word != word_map['<end>']]
        complete_inds = list(set(range(len(next_word_inds))) - set(incomplete_inds))
        if len(complete_inds) > 0:
            complete_seqs.extend(seqs[complete_inds].tolist())
            complete_seqs_alpha.extend(seqs_alpha[complete_inds].tolist())
            complete_seqs_scores.extend(top_k_scores[complete_inds])
        k -= len(complete_inds)
        if k == 0:
            break
        seqs = seqs[incomplete_inds]
        seqs_alpha = seqs_alpha[incomplete_inds]
        h = h[prev_word_inds[incomplete_inds]]
        c = c[prev_word_inds[incomplete_inds]]
        encoder_out = encoder_out[prev_word_inds[incomplete_inds]]
        top_k_scores = top_k_scores[incomplete_inds].unsqueeze(1)
        k_prev_words = next_word_inds[incomplete_inds].unsqueeze(1)
        if step > max_steps:
            break
        step += 1
    if complete_seqs_scores:
        i = complete_seqs_scores.index(max(complete_seqs_scores))
        return complete_seqs[i], torch.tensor(complete_seqs_alpha[i]), float(complete_seqs_scores[i]), True
    return seqs[0].tolist(), seqs_alpha[0], float(top_k_scores[0]), False


# ------------------------------------------------------------------ BLEU
def corpus_bleu(list_of_references, hypotheses, weights):
    """nltk.translate.bleu_score.corpus_bleu (NLTK 3.8) with the default
    method0 smoothing, re-implemented without NLTK."""
    p_num, p_den = Counter(), Counter()
    hyp_lengths, ref_lengths = 0, 0
    for references, hypothesis in zip(list_of_references, hypotheses):
        for i in range(1, len(weights) + 1):
            counts = Counter(tuple(hypothesis[j:j + i]) for j in range(len(hypothesis) - i + 1))
            max_counts = {}
            for reference in references:
                rc = Counter(tuple(reference[j:j + i]) for j in range(len(reference) - i + 1))
                for ng in counts:
                    max_counts[ng] = max(max_counts.get(ng, 0), rc[ng])
            p_num[i] += sum(min(cnt, max_counts[ng]) for ng, cnt in counts.items())
            p_den[i] += max(1, sum(counts.values()))
        hyp_len = len(hypothesis)
        hyp_lengths += hyp_len
        ref_lengths += min((len(r) for r in references), key=lambda rl: (abs(rl - hyp_len), rl))
    if hyp_lengths > ref_lengths:
        bp = 1
    elif hyp_lengths == 0:
        bp = 0
    else:
        bp = math.exp(1 - ref_lengths / hyp_lengths)
    if p_num[1] == 0:
        return 0
    p_n = [Fraction(p_num[i], p_den[i], _normalize=False) if p_num[i] else sys.float_info.min
           for i in range(1, len(weights) + 1)]
    return bp * math.exp(math.fsum(w * math.log(p) for w, p in zip(weights, p_n)))


def bench():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    dec = DecoderWithAttention(512, 512, 512, 10000).eval()
    enc = torch.randn(1, 196, 2048)

    def greedy(precompute):
        with torch.no_grad():
            h, c = dec.init_hidden_state(enc)
            att1 = dec.attention.encoder_att(enc) if precompute else None
            w = torch.zeros(1, dtype=torch.long)
            for _ in range(20):
                if precompute:
                    att2 = dec.attention.decoder_att(h)
                    e = dec.attention.full_att(torch.relu(att1 + att2.unsqueeze(1))).squeeze(2)
                    alpha = e.softmax(dim=1)
                    awe = (enc * alpha.unsqueeze(2)).sum(dim=1)
                else:
                    awe, alpha = dec.attention(enc, h)
                awe = dec.sigmoid(dec.f_beta(h)) * awe
                h, c = dec.decode_step(torch.cat([dec.embedding(w), awe], dim=1), (h, c))
                w = dec.fc(h).argmax(dim=1)

    def median_ms(f, n=30):
        for _ in range(3):
            f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    print("torch %s, 1 thread, median ms" % torch.__version__)
    print("Greedy 20 words, tutorial (encoder_att every step)  %.1f" % median_ms(lambda: greedy(False)))
    print("Greedy 20 words, encoder_att once per image         %.1f" % median_ms(lambda: greedy(True)))


def goldens():
    torch.manual_seed(0)
    out = {}

    # Tiny sizes: Denc 6, A 5, E 4, H 7, V 11, a 2x3 grid, 4 captions of distinct
    # lengths (incl. <start> and <end>) in unsorted order.
    DENC, A, E, H, V = 6, 5, 4, 7, 11
    lengths = [4, 6, 2, 5]
    B = len(lengths)


    def make_batch():
        enc = torch.randn(B, 2, 3, DENC, requires_grad=True)
        caps = torch.zeros(B, max(lengths), dtype=torch.long)
        for i, n in enumerate(lengths):
            caps[i, :n] = torch.randint(1, V, (n,))
        return enc, caps, torch.tensor(lengths).unsqueeze(1)


    def params(prefix, module):
        for n, p in module.named_parameters():
            out[prefix + ".p." + n] = p.detach().clone()


    for tag, paper in [("tutorial", False), ("paper", True)]:
        dec = DecoderWithAttention(A, E, H, V, encoder_dim=DENC, paper=paper)
        with torch.no_grad():  # make the fc bias non-zero so that its gradient path is tested with a real value
            dec.fc.bias.uniform_(-0.1, 0.1)
        dec.eval()
        params(tag, dec)
        enc, caps, caplens = make_batch()
        predictions, caps_sorted, decode_lengths, alphas, sort_ind = dec(enc, caps, caplens)
        if paper:
            (loss, ce, reg), (aloss, ace, areg) = paper_losses(predictions, caps_sorted, decode_lengths, alphas)
            out.update({tag + ".arctic_loss": aloss, tag + ".arctic_ce": ace, tag + ".arctic_reg": areg})
        else:
            loss, ce, reg = tutorial_loss(predictions, caps_sorted, decode_lengths, alphas)
        loss.backward()
        out.update({tag + ".enc": enc, tag + ".caps": caps, tag + ".caplens": caplens.squeeze(1),
                    tag + ".predictions": predictions, tag + ".alphas": alphas, tag + ".sort_ind": sort_ind,
                    tag + ".decode_lengths": torch.tensor(decode_lengths), tag + ".loss": loss, tag + ".ce": ce,
                    tag + ".reg": reg, tag + ".denc": enc.grad})
        out.update(grads(tag + ".g.", dec.named_parameters()))

    # Beam search and greedy decoding on small tutorial models with 8 words and
    # sharpened word scores: "beam" (3 images; greedy and beam differ on two),
    # "open" (no caption ever reaches <end>: the 51-step limit and the best live
    # beam, issue #142).
    word_map = {"a": 1, "b": 2, "c": 3, "d": 4, "<unk>": 5, "<start>": 6, "<end>": 7, "<pad>": 0}
    for tag, seed, scale, n in [("beam", 3, 20., 3), ("open", 5, 10., 1)]:
        torch.manual_seed(seed)
        dec = DecoderWithAttention(5, 4, 7, len(word_map), encoder_dim=DENC).eval()
        with torch.no_grad():
            dec.fc.weight.mul_(scale)
            dec.embedding.weight.mul_(scale)
        params(tag, dec)
        imgs = torch.randn(n, 2, 3, DENC)
        out[tag + ".enc"] = imgs
        for k, name in [(3, "beam"), (1, "greedy")]:
            for i in range(n):
                seq, alph, score, complete = beam_search(dec, imgs[i:i + 1], word_map, beam_size=k)
                pre = "%s.%s%d." % (tag, name, i)
                out.update({pre + "seq": torch.tensor(seq), pre + "alphas": alph[1:], pre + "score": torch.tensor(score),
                            pre + "complete": torch.tensor(int(complete))})

    # Corpus BLEU on random corpora over a 6-word vocabulary (so n-grams match),
    # 1 to 3 references of 0 to 9 words per hypothesis; case 3 has no 4-gram match.
    g = torch.Generator().manual_seed(1)


    def words(n):
        return torch.randint(1, 7, (n,), generator=g).tolist()


    def flat(prefix, seqs):
        out[prefix + "_ids"] = torch.tensor([w for s in seqs for w in s] or [0])[:sum(map(len, seqs))]
        out[prefix + "_len"] = torch.tensor([len(s) for s in seqs])


    cases = []
    for c in range(3):
        n = 5 + 3 * c
        hyps = [words(int(torch.randint(0, 10, (1,), generator=g))) for _ in range(n)]
        refs = [[words(int(torch.randint(1, 10, (1,), generator=g))) for _ in range(int(torch.randint(1, 4, (1,), generator=g)))]
                for _ in range(n)]
        cases.append((hyps, refs))
    cases.append(([[1, 2, 3], [4, 5]], [[[1, 2, 4, 3]], [[5, 4], [4, 5, 6]]]))
    for c, (hyps, refs) in enumerate(cases):
        pre = "bleu.%d." % c
        flat(pre + "hyp", hyps)
        flat(pre + "ref", [r for rs in refs for r in rs])
        out[pre + "nref"] = torch.tensor([len(rs) for rs in refs])
        out[pre + "score"] = torch.tensor([corpus_bleu(refs, hyps, (1. / n,) * n) for n in range(1, 5)],
                                          dtype=torch.float64)

    save("lstmcaption/testdata/lstmcaption.safetensors", out, {"torch": torch.__version__})

    # The tutorial's word map (utils.py: create_input_files) for a few captions,
    # min_word_freq 1, written by json.dump.
    captions = [["a", "red", "circle"], ["a", "blue", "café", "left", "of", "a", "red", "circle"],
                ["there", "is", "a", "blue", "café"], ["a", "\"quoted\"", "word", "\"quoted\""]]
    word_freq = Counter()
    for c in captions:
        word_freq.update(c)
    words_kept = [w for w in word_freq.keys() if word_freq[w] > 1]
    word_map = {k: v + 1 for v, k in enumerate(words_kept)}
    word_map['<unk>'] = len(word_map) + 1
    word_map['<start>'] = len(word_map) + 1
    word_map['<end>'] = len(word_map) + 1
    word_map['<pad>'] = 0
    with open(os.path.join(ROOT, "lstmcaption/testdata/WORDMAP_test.json"), 'w') as j:
        json.dump(word_map, j)
    print("wrote lstmcaption/testdata/WORDMAP_test.json")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        bench()
    else:
        goldens()
