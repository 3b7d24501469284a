// Package lstmcaption is Show, Attend and Tell (Xu et al. 2015,
// arXiv:1502.03044): an LSTM that writes a caption word by word while
// attending softly over the grid of features an image encoder produces.
// It follows sgrvinod's a-PyTorch-Tutorial-to-Image-Captioning — the
// decoder of its models.py with its state_dict names, the loss of
// train.py, the beam search of caption.py — to float32 precision,
// forward and backward (testdata/gen/lstmcaption.py writes the golden
// files), and offers the paper's variants as options.
//
// # The decoder
//
// For encoder output enc [B, h, w, Denc] (P = h·w grid cells; encoder.CNN
// produces it, the tutorial uses ResNet-101 pooled to 14×14×2048), the
// [Decoder] starts from h₀ = init_h(mean_p enc), c₀ = init_c(mean_p enc)
// and at every step t, given the previous word y,
//
//	z, α  = attention(enc, h)                soft attention (attention.Additive), α [B, P]
//	z     = σ(f_beta(h)) ⊙ z                 gate on the context, [B, Denc]
//	h, c  = decode_step([embedding(y); z], (h, c))   torch.nn.LSTMCell, gates i, f, g, o
//	logits = fc(dropout(h))                  [B, V]
//
// encoder_att(enc), the part of the attention that does not depend on
// the state, is computed once per image. [LSTMCell] is PyTorch's cell
// with both biases (weight_ih, weight_hh, bias_ih, bias_hh), composed
// from the core's primitives.
//
// [Config] switches on the paper's choices where the tutorial differs
// (01-show-attend-tell §7); the defaults are the tutorial's, so its
// checkpoints load:
//
//	                tutorial (default)          paper (Config.Paper())
//	attention MLP   ReLU                        tanh (AttentionAct)
//	gate f_beta     vector, H → Denc            scalar β, H → 1 (ScalarGate)
//	h₀, c₀          linear                      tanh (TanhInit)
//	output          fc(h)                       fc(tanh(E·y + L_h·h + L_z·z)) (DeepOutput; keys logit_h, logit_z)
//
// The paper's Theano code feeds the context to the LSTM through its own
// matrix; concatenating [embedding; context] before one weight_ih is the
// same function. Hard (stochastic) attention is not implemented.
//
// # Training
//
// [Decoder.Forward] is the tutorial's teacher-forced forward pass over
// captions of different lengths: it sorts them by decreasing length (a
// stable sort; PyTorch's is not, so equal lengths may come out in
// another order there), decodes B_t rows at step t as captions end, and
// returns [B, T, V] predictions and [B, T, P] attention weights that are
// zero past each caption, with the sort index. [Output.Loss] is
// train.py's loss, cross-entropy over the real words plus alpha_c times
// the doubly stochastic regulariser ((1 − Σ_t α_t)²).mean(), or the
// normalisations of the paper ([NormPaper]) and of its Theano code
// ([NormArctic]), which differ by constant factors from the tutorial's.
// [Trainer] runs train.py's step: encode, decode, loss, backward, clamp
// every gradient value to ±5, Adam; the encoder fine-tunes or stays
// frozen.
//
// # Decoding
//
// [Decoder.Greedy] and [Decoder.Beam] caption a batch of images and
// return, for each, the word ids, the attention map behind every word
// ([Caption.Map], [h, w], to lay over the image) and the log-probability.
// Beam search is caption.py's algorithm, batched over images, with its
// two failures fixed: the beam index uses integer division (issue #175)
// and an image whose beams never reach <end> gets its best live beam
// instead of an error (issue #142). Both stop when their context is done.
//
// [WordMap] is the tutorial's word map (<pad> = 0, the words, then <unk>,
// <start>, <end>) and reads and writes its WORDMAP_*.json files.
// [CorpusBLEU] computes corpus BLEU-1 to BLEU-4 as NLTK's corpus_bleu,
// which the tutorial's eval.py reports.
//
// # Loading the tutorial's checkpoints
//
// The tutorial saves whole pickled modules (torch.save of {'encoder':
// module, 'decoder': module, ...}), which only Python with its models.py
// can read. Export the decoder's state_dict to safetensors once, from the
// tutorial's directory:
//
//	import torch
//	from safetensors.torch import save_file
//	ckpt = torch.load("BEST_checkpoint_coco_5_cap_per_img_5_min_word_freq.pth.tar", map_location="cpu")
//	save_file(ckpt["decoder"].state_dict(), "decoder.safetensors")
//
// Its keys are this package's parameter names, so a strict load needs no
// renaming:
//
//	wm, err := lstmcaption.LoadWordMap("WORDMAP_coco_5_cap_per_img_5_min_word_freq.json")
//	d, err := lstmcaption.New(nil, lstmcaption.TutorialConfig(wm.Len()))
//	_, err = vlm.LoadWeights(d, "decoder.safetensors", nil)
//	caps, err := d.Beam(ctx, features, 5, wm.DecodeOptions(0))
//
// The features are those of the tutorial's encoder (ResNet-101 pooled to
// 14×14, permuted to [B, 14, 14, 2048]), which this module does not
// include.
//
// # Errors and concurrency
//
// Constructors and methods validate their inputs and return errors
// wrapping vlm.ErrConfig, vlm.ErrShape or vlm.ErrInput, or the context's
// error. Inference (nil tape) only reads a Decoder, so any number of
// goroutines may decode with one at once; a Trainer belongs to one
// goroutine.
package lstmcaption
