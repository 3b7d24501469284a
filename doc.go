// Package vlm is the core of a pure-Go library of vision-language-model
// building blocks: the tensor, the gradient tape, the primitive layers
// with hand-written backward passes, losses, optimizers, weight I/O and a
// gradient checker. The blocks themselves live in sub-packages
// (attention, encoder, resampler, gating, qformer, lstmcaption,
// projector, lm), each a short composition of the primitives here, and
// each matching its reference implementation (Hugging Face transformers,
// LAVIS, open_flamingo, the Show-Attend-Tell tutorial) to float32
// precision.
//
// # Tensors and axis letters
//
// A [Tensor] is a dense, contiguous, row-major float32 array. Doc comments
// give shapes with these letters:
//
//	B  batch            T  text tokens       Q  learned queries / latents
//	N  media tokens     M  media items       D  width (model dimension)
//	H  attention heads  V  vocabulary size   Dh head width (D/H)
//
// so x [B, T, D] is a batch of token sequences.
//
// # Gradients
//
// Every operation takes a *[Tape] as its first argument. With a nil tape it
// only computes (inference). With a tape from [NewTape] it records a
// backward step whenever one of its inputs needs a gradient; then
// [Tape.Backward] on a scalar loss fills Param.Grad for every trainable
// [Param] and [Tape.Grad] returns the gradient of any recorded tensor.
// Each primitive has its own forward and backward kernel; composites
// (a Q-Former layer, an LSTM unrolled over time) only call primitives.
// Frozen parameters get no gradient, but gradients flow through the
// layers that hold them, so a frozen language model can train the gated
// layers inside it.
//
// [Module] reports parameters by name through VisitParams; the names are
// the reference checkpoints' state_dict keys, so [Freeze], [CountParams]
// and weight loading are name lookups.
//
// # Errors
//
// Entry points (constructors, loaders, model Forward/Encode/Generate
// methods, image preprocessing) validate what they are given and return
// errors wrapping one of [ErrShape], [ErrConfig], [ErrCheckpoint] or
// [ErrInput]; the message names what is wrong (the key, the got and
// wanted shapes). Below a validated entry point, a programmer error panics
// with a *[Error], which the entry point recovers with [Recover]; any other
// panic is a bug and is not recovered.
//
// # Concurrency
//
// Inference with a nil tape never writes to a module, so one model may
// serve any number of goroutines at once. A tape, an optimizer, and
// training in general belong to one goroutine. The kernels may use up to
// [SetThreads] goroutines for one large matrix product or for the heads of
// one attention call; nothing else starts goroutines.
//
// # Performance knobs
//
// Matrix products run on a float32 GEMM written in Go assembly for AVX-512
// and AVX2 (chosen at start-up from the CPU's features), parallel over
// [SetThreads] goroutines (default GOMAXPROCS). The environment variable
// VLM_GEMM=go forces the portable path, and a BLAS installed with gonum's
// blas32.Use replaces both. Inference with a nil tape records nothing,
// keeps no activations for a backward pass, and reuses the storage of its
// intermediate tensors from call to call (never that of a tensor it
// returns).
package vlm
