package attention

import (
	"math/rand/v2"
	"slices"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/kernels"
	"github.com/govlm/vlm/internal/workspace"
)

// MultiHead is multi-head attention with its projections:
//
//	q = x·W_qᵀ + b_q,  k = ctx·W_kᵀ + b_k,  v = ctx·W_vᵀ + b_v     (ctx = x for self-attention)
//	out = Out(concat_h softmax(Scale·q_h·k_hᵀ, masked)·v_h)
//
// with Heads heads, head h being the h-th slice of width Dh of the
// projections (HF, PyTorch and open_flamingo alike). The query, key and
// value projections are stored in one of three layouts, as the checkpoint
// has them:
//
//	Q, K, V    separate (HF BERT query/key/value, CLIP q_proj/k_proj/v_proj)
//	Q, KV      K and V fused, rows [W_k; W_v] (open_flamingo to_q, to_kv)
//	QKV        all fused, rows [W_q; W_k; W_v] (PyTorch in_proj_weight)
//
// The unused fields are nil. A MultiHead is read-only during Forward, so
// one module may serve many goroutines with nil tapes.
type MultiHead struct {
	Q, K, V *vlm.Linear
	KV      *vlm.Linear
	QKV     *vlm.Linear
	Out     *vlm.Linear
	Heads   int
	// Scale multiplies q·kᵀ; 0 means 1/√Dh.
	Scale float32
	// Dropout is the attention-probability dropout of training tapes
	// (attention_probs_dropout_prob).
	Dropout float32
	Names   Names
}

// Names are the checkpoint keys of a [MultiHead]'s projections relative to
// the module's prefix. Each is a key prefix including its separator: the
// query weight is prefix + Inner + Q + "weight". Inner prefixes the
// query, key and value projections only, so that BERT's
// attention.self.query and attention.output.dense are both reachable from
// "attention.".
type Names struct {
	// Inner is the sub-module that holds Q, K, V, KV and QKV: "self." in
	// HF BERT and LAVIS, "attention." in HF BLIP-2 and InstructBLIP.
	Inner            string
	Q, K, V, KV, QKV string
	Out              string
}

// Checkpoint names of the reference implementations. The layout of a
// new MultiHead follows the names: QKV set → fused QKV, KV set → fused KV,
// otherwise separate projections.
var (
	// CLIPNames are HF CLIP's (also OPT, BART, Whisper): q_proj, k_proj,
	// v_proj, out_proj.
	CLIPNames = Names{Q: "q_proj.", K: "k_proj.", V: "v_proj.", Out: "out_proj."}
	// BERTNames are HF BERT's and LAVIS's, relative to "attention." or
	// "crossattention.": self.query, self.key, self.value, output.dense.
	// HF BLIP-2 and InstructBLIP renamed the inner module: set Inner to
	// "attention." (see [BLIP2Names]).
	BERTNames = Names{Inner: "self.", Q: "query.", K: "key.", V: "value.", Out: "output.dense."}
	// BLIP2Names are [BERTNames] with HF BLIP-2's inner module name:
	// attention.query, ..., output.dense.
	BLIP2Names = Names{Inner: "attention.", Q: "query.", K: "key.", V: "value.", Out: "output.dense."}
	// TorchNames are torch.nn.MultiheadAttention's: in_proj_weight,
	// in_proj_bias, out_proj.
	TorchNames = Names{QKV: "in_proj_", Out: "out_proj."}
	// FlamingoNames are open_flamingo's and lucidrains' (no biases):
	// to_q, to_kv, to_out.
	FlamingoNames = Names{Q: "to_q.", KV: "to_kv.", Out: "to_out."}
)

// Config sizes attention modules and the transformer layers built on
// them. Zero fields take the defaults given; constructors that build
// layers document their own.
type Config struct {
	Dim     int // D: width of the queries and of the output
	Heads   int // H
	HeadDim int // Dh; 0 means Dim/Heads (Flamingo: 64 with any Dim)
	// KVDim is the width of the key/value input of cross-attention (the
	// Q-Former attends 768-wide queries to 1408-wide image features);
	// 0 means Dim. Self-attention needs KVDim == Dim.
	KVDim int
	// NoBias drops the biases of the attention projections (Flamingo).
	NoBias      bool
	AttnDropout float32 // attention-probability dropout (training tapes)
	Names       Names   // projection names; zero means CLIPNames

	Hidden  int            // FFN width; 0 means 4·Dim
	Act     vlm.Activation // FFN activation; "" means the layer's default
	Eps     float32        // LayerNorm eps; 0 means the layer's default
	Dropout float32        // hidden dropout after each sub-layer (training tapes)
}

func (c *Config) check() error {
	if c.Dim < 1 || c.Heads < 1 || c.HeadDim < 0 || c.KVDim < 0 || c.Hidden < 0 {
		return vlm.Errorf(vlm.ErrConfig, "attention: config dim %d, heads %d, head dim %d, kv dim %d, hidden %d", c.Dim, c.Heads, c.HeadDim, c.KVDim, c.Hidden)
	}
	if c.HeadDim == 0 && c.Dim%c.Heads != 0 {
		return vlm.Errorf(vlm.ErrConfig, "attention: dim %d is not a multiple of %d heads", c.Dim, c.Heads)
	}
	for _, p := range []float32{c.AttnDropout, c.Dropout} {
		if p < 0 || p >= 1 {
			return vlm.Errorf(vlm.ErrConfig, "attention: dropout %v outside [0, 1)", p)
		}
	}
	if c.Act != "" && !c.Act.Valid() {
		return vlm.Errorf(vlm.ErrConfig, "attention: unknown activation %q", string(c.Act))
	}
	if c.Eps < 0 {
		return vlm.Errorf(vlm.ErrConfig, "attention: LayerNorm eps %v < 0", c.Eps)
	}
	return nil
}

// NewMultiHead returns a MultiHead of c.Heads heads from c.Dim-wide
// queries and c.KVDim-wide keys/values to c.Dim outputs, in the layout of
// c.Names, with PyTorch's default Linear initialisation. Fused QKV needs
// KVDim == Dim. A nil rng means vlm.NewRand(0) (weights to be loaded).
func NewMultiHead(rng *rand.Rand, c Config) (*MultiHead, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	if c.Names == (Names{}) {
		c.Names = CLIPNames
	}
	dh := c.HeadDim
	if dh == 0 {
		dh = c.Dim / c.Heads
	}
	kvDim := c.KVDim
	if kvDim == 0 {
		kvDim = c.Dim
	}
	inner, bias := c.Heads*dh, !c.NoBias
	m := &MultiHead{Heads: c.Heads, Dropout: c.AttnDropout, Names: c.Names}
	switch {
	case c.Names.QKV != "":
		if kvDim != c.Dim {
			return nil, vlm.Errorf(vlm.ErrConfig, "attention: fused QKV projection needs key/value width %d == query width %d", kvDim, c.Dim)
		}
		m.QKV = vlm.NewLinear(rng, c.Dim, 3*inner, bias)
	case c.Names.KV != "":
		m.Q = vlm.NewLinear(rng, c.Dim, inner, bias)
		m.KV = vlm.NewLinear(rng, kvDim, 2*inner, bias)
	default:
		m.Q = vlm.NewLinear(rng, c.Dim, inner, bias)
		m.K = vlm.NewLinear(rng, kvDim, inner, bias)
		m.V = vlm.NewLinear(rng, kvDim, inner, bias)
	}
	m.Out = vlm.NewLinear(rng, inner, c.Dim, bias)
	return m, nil
}

// VisitParams implements vlm.Module with the keys of m.Names.
func (m *MultiHead) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	in := prefix + m.Names.Inner
	for _, p := range []struct {
		l    *vlm.Linear
		name string
	}{{m.QKV, m.Names.QKV}, {m.Q, m.Names.Q}, {m.K, m.Names.K}, {m.V, m.Names.V}, {m.KV, m.Names.KV}} {
		if p.l != nil {
			p.l.VisitParams(in+p.name, visit)
		}
	}
	m.Out.VisitParams(prefix+m.Names.Out, visit)
}

// Dim returns the width of the queries and of the output.
func (m *MultiHead) Dim() int {
	if m.QKV != nil {
		return m.QKV.In()
	}
	return m.Q.In()
}

// KVDim returns the width of the key/value input.
func (m *MultiHead) KVDim() int {
	switch {
	case m.QKV != nil:
		return m.QKV.In()
	case m.KV != nil:
		return m.KV.In()
	}
	return m.K.In()
}

// inner returns H·Dh.
func (m *MultiHead) inner() int { return m.Out.In() }

// headDim returns Dh (= Dv in every layout).
func (m *MultiHead) headDim() int { return m.inner() / m.Heads }

func (m *MultiHead) valid() error {
	ok := m.Out != nil && m.Heads > 0 && m.inner()%m.Heads == 0
	switch {
	case m.QKV != nil:
		ok = ok && m.Q == nil && m.K == nil && m.V == nil && m.KV == nil && m.QKV.Out() == 3*m.inner()
	case m.KV != nil:
		ok = ok && m.Q != nil && m.K == nil && m.V == nil && m.Q.Out() == m.inner() && m.KV.Out() == 2*m.inner()
	default:
		ok = ok && m.Q != nil && m.K != nil && m.V != nil && m.Q.Out() == m.inner() &&
			m.K.Out() == m.inner() && m.V.Out() == m.inner() && m.K.In() == m.V.In()
	}
	if !ok {
		return vlm.Errorf(vlm.ErrConfig, "attention.MultiHead: inconsistent projections or %d heads", m.Heads)
	}
	return nil
}

// Memory holds the projected keys and values of a context, for
// cross-attention: compute it once per image with [MultiHead.Memory] and
// reuse it for every query pass and every decoding step (the media do not
// change while text is generated; in BLIP-2 the image key/value
// projections are half of the Q-Former's work). It is read-only and may
// be shared by goroutines. On a tape, gradients flow through it to the
// context and the projections.
type Memory struct {
	k, v      operand
	b, n      int
	heads, dh int
}

// Len returns the number of key positions Tk.
func (mem *Memory) Len() int { return mem.n }

// Batch returns B.
func (mem *Memory) Batch() int { return mem.b }

// Memory projects ctx [B, Tk, KVDim] to the keys and values of
// cross-attention.
func (m *MultiHead) Memory(tp *vlm.Tape, ctx *vlm.Tensor) (mem *Memory, err error) {
	defer vlm.Recover(&err)
	if err := m.valid(); err != nil {
		return nil, err
	}
	if err := vlm.CheckShape("context", ctx, -1, -1, m.KVDim()); err != nil {
		return nil, err
	}
	return m.memory(tp, ctx), nil
}

func (m *MultiHead) memory(tp *vlm.Tape, ctx *vlm.Tensor) *Memory {
	inner, dh := m.inner(), m.headDim()
	mem := &Memory{b: ctx.Shape[0], n: ctx.Shape[1], heads: m.Heads, dh: dh}
	switch {
	case m.QKV != nil:
		kv := linearRows(tp, ctx, m.QKV, inner, 3*inner)
		mem.k, mem.v = columns(kv, 0, dh), columns(kv, inner, dh)
	case m.KV != nil:
		kv := m.KV.Forward(tp, ctx)
		mem.k, mem.v = columns(kv, 0, dh), columns(kv, inner, dh)
	default:
		mem.k, mem.v = whole(m.K.Forward(tp, ctx), dh), whole(m.V.Forward(tp, ctx), dh)
	}
	return mem
}

// query projects x to the queries.
func (m *MultiHead) query(tp *vlm.Tape, x *vlm.Tensor) operand {
	if m.QKV != nil {
		return whole(linearRows(tp, x, m.QKV, 0, m.inner()), m.headDim())
	}
	return whole(m.Q.Forward(tp, x), m.headDim())
}

// Cross attends x [B, Tq, Dim] to the keys and values of mem (from
// [MultiHead.Memory]) and returns [B, Tq, Dim]. The options' mask is over
// [B, H, Tq, mem.Len()].
func (m *MultiHead) Cross(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, o *Options) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := m.checkCross(x, mem, o); err != nil {
		return nil, err
	}
	return m.cross(tp, x, mem, o), nil
}

func (m *MultiHead) checkCross(x *vlm.Tensor, mem *Memory, o *Options) error {
	if err := m.valid(); err != nil {
		return err
	}
	if err := vlm.CheckShape("query input", x, -1, -1, m.Dim()); err != nil {
		return err
	}
	if mem == nil || mem.b != x.Shape[0] || mem.heads != m.Heads || mem.dh != m.headDim() {
		return vlm.Errorf(vlm.ErrShape, "attention: memory does not fit queries %v of this module", x.Shape)
	}
	return o.check(dims{x.Shape[0], m.Heads, x.Shape[1], mem.n, m.headDim(), m.headDim()})
}

func (m *MultiHead) cross(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, o *Options) *vlm.Tensor {
	q := m.query(tp, x)
	d := dims{x.Shape[0], m.Heads, x.Shape[1], mem.n, mem.dh, mem.dh}
	att := attend(tp, q, mem.k, mem.v, d, m.defaults(o), false)
	y := m.Out.Forward(tp, att)
	workspace.Release(tp, att, x, y)
	workspace.Release(tp, q.t, x, y)
	return y
}

// defaults fills the call's zero Scale and Dropout with the module's.
func (m *MultiHead) defaults(o *Options) *Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Scale == 0 {
		c.Scale = m.Scale
	}
	if c.Dropout == 0 {
		c.Dropout = m.Dropout
	}
	return &c
}

// Self attends x [B, T, Dim] to itself and returns [B, T, Dim]. With a
// non-nil cache, x holds the T positions that follow the cache.Len()
// cached ones: the queries attend to the cached keys and values and to
// their own, and the cache is extended by x's (incremental decoding). The
// options' mask is over [B, H, T, cache.Len()+T]; Causal makes query i
// see keys j <= cache.Len()+i.
func (m *MultiHead) Self(tp *vlm.Tape, x *vlm.Tensor, cache *Cache, o *Options) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := m.checkSelf(x, cache, o); err != nil {
		return nil, err
	}
	return m.self(tp, x, cache, o), nil
}

func (m *MultiHead) checkSelf(x *vlm.Tensor, cache *Cache, o *Options) error {
	if err := m.valid(); err != nil {
		return err
	}
	if m.KVDim() != m.Dim() {
		return vlm.Errorf(vlm.ErrConfig, "attention: self-attention with key/value width %d != query width %d", m.KVDim(), m.Dim())
	}
	if err := vlm.CheckShape("input", x, -1, -1, m.Dim()); err != nil {
		return err
	}
	past := 0
	if cache != nil {
		if err := cache.fits(x.Shape[0], m.inner()); err != nil {
			return err
		}
		past = cache.n
	}
	return o.check(dims{x.Shape[0], m.Heads, x.Shape[1], past + x.Shape[1], m.headDim(), m.headDim()})
}

func (m *MultiHead) self(tp *vlm.Tape, x *vlm.Tensor, cache *Cache, o *Options) *vlm.Tensor {
	inner, dh := m.inner(), m.headDim()
	var q, k, v operand
	if m.QKV != nil {
		qkv := m.QKV.Forward(tp, x)
		q, k, v = columns(qkv, 0, dh), columns(qkv, inner, dh), columns(qkv, 2*inner, dh)
	} else {
		q = m.query(tp, x)
		mem := m.memory(tp, x)
		k, v = mem.k, mem.v
	}
	// The projections: views of one tensor (QKV), or q of its own and k,
	// v of one or two. A cache copies k and v.
	proj := []*vlm.Tensor{q.t, k.t, v.t}
	tk := x.Shape[1]
	if cache != nil {
		k, v = cache.append(tp, k, v, x.Shape[0], x.Shape[1], inner, dh)
		tk = cache.n
	}
	d := dims{x.Shape[0], m.Heads, x.Shape[1], tk, dh, dh}
	att := attend(tp, q, k, v, d, m.defaults(o), false)
	y := m.Out.Forward(tp, att)
	workspace.Release(tp, att, x, y)
	for i, t := range proj {
		if !slices.ContainsFunc(proj[:i], func(u *vlm.Tensor) bool { return workspace.Shares(t, u) }) {
			workspace.Release(tp, t, x, y)
		}
	}
	return y
}

func linearRows(tp *vlm.Tape, x *vlm.Tensor, l *vlm.Linear, lo, hi int) *vlm.Tensor {
	in, out := l.In(), hi-lo
	w := tp.Param(l.Weight)
	var b *vlm.Tensor
	if l.Bias != nil {
		b = tp.Param(l.Bias)
	}
	rows := x.Size() / in
	shape := append(append([]int(nil), x.Shape[:x.Rank()-1]...), out)
	y := vlm.Zeros(shape...)
	kernels.Sgemm(false, true, rows, out, in, 1, x.Data, in, w.Data[lo*in:], in, 0, y.Data, out)
	if b != nil {
		kernels.AddRows(y.Data, b.Data[lo:hi], rows, out)
	}
	if !tp.NeedsGrad(x, w, b) {
		return y
	}
	needX, needW, needB := tp.NeedsGrad(x), tp.NeedsGrad(w), b != nil && tp.NeedsGrad(b)
	tp.Record(y, func(dy *vlm.Tensor) {
		if needX {
			kernels.Sgemm(false, false, rows, in, out, 1, dy.Data, out, w.Data[lo*in:], in, 1, tp.GradOf(x).Data, in)
		}
		if needW {
			kernels.Sgemm(true, false, out, in, rows, 1, dy.Data, out, x.Data, in, 1, tp.GradOf(w).Data[lo*in:], in)
		}
		if needB {
			kernels.SumRows(tp.GradOf(b).Data[lo:hi], dy.Data, rows, out)
		}
	})
	return y
}

// WithNames returns a copy of m whose projections are laid out and named
// as names say (fused QKV, Q + fused KV, or separate), with the same
// values: it splits a PyTorch in_proj_weight into q_proj, k_proj and
// v_proj (open_clip's attn.in_proj_weight → HF CLIP) or fuses separate
// projections. Gradients are not copied. Fusing Q with K and V needs equal
// query and key/value widths.
func (m *MultiHead) WithNames(names Names) (*MultiHead, error) {
	if err := m.valid(); err != nil {
		return nil, err
	}
	inner := m.inner()
	// The rows [W_q; W_k; W_v] and biases of the current layout.
	var q, kv *vlm.Linear
	switch {
	case m.QKV != nil:
		q, kv = rowsOf(m.QKV, 0, inner), rowsOf(m.QKV, inner, 3*inner)
	case m.KV != nil:
		q, kv = rowsOf(m.Q, 0, inner), rowsOf(m.KV, 0, 2*inner)
	default:
		q, kv = rowsOf(m.Q, 0, inner), stack(m.K, m.V)
	}
	c := &MultiHead{Heads: m.Heads, Scale: m.Scale, Dropout: m.Dropout, Names: names, Out: rowsOf(m.Out, 0, m.Out.Out())}
	switch {
	case names.QKV != "":
		if q.In() != kv.In() {
			return nil, vlm.Errorf(vlm.ErrConfig, "attention: cannot fuse %d-wide queries with %d-wide keys/values", q.In(), kv.In())
		}
		c.QKV = stack(q, kv)
	case names.KV != "":
		c.Q, c.KV = q, kv
	default:
		c.Q, c.K, c.V = q, rowsOf(kv, 0, inner), rowsOf(kv, inner, 2*inner)
	}
	return c, nil
}

// rowsOf returns a new Linear holding a copy of output rows [lo, hi) of l.
func rowsOf(l *vlm.Linear, lo, hi int) *vlm.Linear {
	in := l.In()
	r := &vlm.Linear{Weight: vlm.NewParam(vlm.FromData(append([]float32(nil), l.Weight.Value.Data[lo*in:hi*in]...), hi-lo, in))}
	if l.Bias != nil {
		r.Bias = vlm.NewParam(vlm.FromData(append([]float32(nil), l.Bias.Value.Data[lo:hi]...), hi-lo))
	}
	r.Weight.Frozen = l.Weight.Frozen
	if r.Bias != nil {
		r.Bias.Frozen = l.Bias.Frozen
	}
	return r
}

// stack returns a new Linear whose rows are those of a then b. If only
// one of them has a bias, the other's is taken as zeros.
func stack(a, b *vlm.Linear) *vlm.Linear {
	w := vlm.FromData(append(append([]float32(nil), a.Weight.Value.Data...), b.Weight.Value.Data...), a.Out()+b.Out(), a.In())
	l := &vlm.Linear{Weight: vlm.NewParam(w)}
	l.Weight.Frozen = a.Weight.Frozen && b.Weight.Frozen
	if a.Bias != nil || b.Bias != nil {
		l.Bias = vlm.NewParam(vlm.Zeros(a.Out() + b.Out()))
		l.Bias.Frozen = true
		for i, x := range []*vlm.Linear{a, b} {
			if x.Bias != nil {
				copy(l.Bias.Value.Data[i*a.Out():], x.Bias.Value.Data)
				l.Bias.Frozen = l.Bias.Frozen && x.Bias.Frozen
			}
		}
	}
	return l
}
