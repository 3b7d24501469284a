package main

import (
	"fmt"
	"math"
	"slices"
)

// The vectorised elementwise and row kernels of vec_amd64.s, for AVX-512F
// and AVX2+FMA from one description. Every kernel works on blocks of 16
// floats. The elementwise kernels finish the last n%16 elements with
// masked loads and stores; the reductions (sum, max, ...) ignore them and
// the Go side adds them.
//
// A kernel body is written against logical registers (vr), each holding
// 16 floats: one zmm register for AVX-512, two ymm registers for AVX2.
// Operands are logical registers, 16-float memory blocks (vm, at a base
// register), constants (vc, 16 copies in a read-only table) or literal
// strings (immediates, argument slots). AVX2 has 8 logical registers, the
// last of which (selTmp) is reserved for the masks of sel.

// vr is a logical vector register, 0..6 (7 is selTmp).
type vr int

// vm is the block of 16 floats at a base register.
type vm string

// vc names a constant vector; vecConsts gives its 32-bit pattern.
type vc string

const selTmp vr = 7

// Comparison predicates of VCMPPS (ordered, quiet).
const (
	cmpLT = "$0x11"
	cmpGT = "$0x1e"
	cmpGE = "$0x1d"
)

// vecConsts holds the bit patterns of the constants by name.
var vecConsts = map[vc]uint32{}

func fconst(name string, v float32) vc {
	vecConsts[vc(name)] = math.Float32bits(v)
	return vc(name)
}

func iconst(name string, v uint32) vc {
	vecConsts[vc(name)] = v
	return vc(name)
}

var (
	cZero    = fconst("zero", 0)
	cOne     = fconst("one", 1)
	cTwo     = fconst("two", 2)
	cHalf    = fconst("half", 0.5)
	cInf     = iconst("inf", 0x7f800000)
	cSign    = iconst("sign", 0x80000000)
	cAbs     = iconst("abs", 0x7fffffff)
	cBias    = iconst("bias127", 127)
	cExpLo   = fconst("explo", -87.3)
	cExpHi   = fconst("exphi", 88.7)
	cLog2e   = fconst("log2e", 1.44269504088896341)
	cLn2Hi   = fconst("ln2hi", 0.693359375)
	cLn2Lo   = fconst("ln2lo", -2.12194440e-4)
	cExpPoly = []vc{
		fconst("expp6", 1.9875691500e-4), fconst("expp5", 1.3981999507e-3),
		fconst("expp4", 8.3334519073e-3), fconst("expp3", 4.1665795894e-2),
		fconst("expp2", 1.6666665459e-1), fconst("expp1", 5.0000001201e-1),
	}
	cTanhSmall = fconst("tanhsmall", 0.625)
	cTanhPoly  = []vc{
		fconst("tanhp4", -5.70498872745e-3), fconst("tanhp3", 2.06390887954e-2),
		fconst("tanhp2", -5.37397155531e-2), fconst("tanhp1", 1.33314422036e-1),
		fconst("tanhp0", -3.33332819422e-1),
	}
	cErfcPoly = []vc{
		fconst("erfc9", 0.17087277), fconst("erfc8", -0.82215223), fconst("erfc7", 1.48851587),
		fconst("erfc6", -1.13520398), fconst("erfc5", 0.27886807), fconst("erfc4", -0.18628806),
		fconst("erfc3", 0.09678418), fconst("erfc2", 0.37409196), fconst("erfc1", 1.00002368),
		fconst("erfc0", -1.26551223),
	}
	cInvSqrt2    = fconst("invsqrt2", 0.70710678118654752440)
	cInvSqrt2Pi  = fconst("invsqrt2pi", 0.39894228040143267794)
	cSqrt2OverPi = fconst("sqrt2overpi", 0.79788456080286535588)
	cGeluCoeff   = fconst("gelucoeff", 0.044715)
	cGeluCoeff3  = fconst("gelucoeff3", 3*0.044715)
	cQuickAlpha  = fconst("quickalpha", 1.702)
	cMinusHalf   = fconst("minushalf", -0.5)
	cNegInf      = iconst("neginf", 0xff800000)
)

// vgen emits the kernels of one instruction set.
type vgen struct {
	*gen
	avx512 bool
	// tail makes load and store masked to the first n%16 lanes: K2 for
	// AVX-512, the mask words at R11 for AVX2 (loaded into selTmp).
	tail bool
}

func (v *vgen) suffix() string {
	if v.avx512 {
		return "512"
	}
	return "AVX2"
}

func (v *vgen) halves() int {
	if v.avx512 {
		return 1
	}
	return 2
}

// operand formats o for half h of a logical operation.
func (v *vgen) operand(o any, h int) string {
	if i, ok := o.(int); ok { // an untyped constant register number
		o = vr(i)
	}
	switch o := o.(type) {
	case vr:
		if v.avx512 {
			return fmt.Sprintf("Z%d", int(o))
		}
		return fmt.Sprintf("Y%d", 2*int(o)+h)
	case vm:
		if v.avx512 {
			return fmt.Sprintf("(%s)", string(o))
		}
		return fmt.Sprintf("%d(%s)", 32*h, string(o))
	case vc:
		if _, ok := vecConsts[o]; !ok {
			panic("unknown constant " + string(o))
		}
		return fmt.Sprintf("vec_%s<>(SB)", string(o))
	case string:
		return o
	}
	panic(fmt.Sprintf("bad operand %v", o))
}

// op emits ins with the operands (Go order: sources first, destination
// last) once per half.
func (v *vgen) op(ins string, args ...any) {
	for h := range v.halves() {
		s := ins
		for i, a := range args {
			if i == 0 {
				s += " "
			} else {
				s += ", "
			}
			s += v.operand(a, h)
		}
		v.i("%s", s)
	}
}

// load sets dst to a memory block or constant. In the tail the lanes
// past n are zero and not read.
func (v *vgen) load(src any, dst vr) {
	if _, mem := src.(vm); !mem || !v.tail {
		v.op("VMOVUPS", src, dst)
		return
	}
	if v.avx512 {
		v.op("VMOVUPS.Z", src, "K2", dst)
		return
	}
	v.op("VMOVUPS", vm("R11"), selTmp)
	v.op("VMASKMOVPS", src, selTmp, dst)
}

// store writes src to a memory block; in the tail only the first n%16
// lanes.
func (v *vgen) store(src vr, dst vm) {
	switch {
	case !v.tail:
		v.op("VMOVUPS", src, dst)
	case v.avx512:
		v.op("VMOVUPS", src, "K2", dst)
	default:
		v.op("VMOVUPS", vm("R11"), selTmp)
		v.op("VMASKMOVPS", src, selTmp, dst)
	}
}

// bcast sets every lane of dst to the float32 argument at slot.
func (v *vgen) bcast(slot string, dst vr) { v.op("VBROADCASTSS", slot, dst) }

// Arithmetic, in the order dst = a op b.
func (v *vgen) add(a vr, b any, dst vr) { v.op("VADDPS", b, a, dst) }
func (v *vgen) sub(a vr, b any, dst vr) { v.op("VSUBPS", b, a, dst) }
func (v *vgen) mul(a vr, b any, dst vr) { v.op("VMULPS", b, a, dst) }
func (v *vgen) div(a vr, b any, dst vr) { v.op("VDIVPS", b, a, dst) }

// fma sets dst = dst*a + b; fmaAcc sets dst += a*b.
func (v *vgen) fma(a vr, b any, dst vr)    { v.op("VFMADD213PS", b, a, dst) }
func (v *vgen) fmaAcc(a vr, b any, dst vr) { v.op("VFMADD231PS", b, a, dst) }

// fnmaAcc sets dst -= a*b.
func (v *vgen) fnmaAcc(a vr, b any, dst vr) { v.op("VFNMADD231PS", b, a, dst) }

func (v *vgen) and(a vr, b any, dst vr) {
	if v.avx512 {
		v.op("VPANDD", b, a, dst)
	} else {
		v.op("VANDPS", b, a, dst)
	}
}

func (v *vgen) or(a vr, b any, dst vr) {
	if v.avx512 {
		v.op("VPORD", b, a, dst)
	} else {
		v.op("VORPS", b, a, dst)
	}
}

// sel sets dst = val where a pred b, leaving the other lanes.
func (v *vgen) sel(pred string, a vr, b, val any, dst vr) {
	if v.avx512 {
		v.op("VCMPPS", pred, b, a, "K1")
		v.op("VMOVUPS", val, "K1", dst)
		return
	}
	for h := range 2 {
		m := v.operand(selTmp, h)
		v.i("VCMPPS %s, %s, %s, %s", pred, v.operand(b, h), v.operand(a, h), m)
		v.i("VBLENDVPS %s, %s, %s, %s", m, v.operand(val, h), v.operand(dst, h), v.operand(dst, h))
	}
}

// poly sets dst = Horner(cs, x) = ((cs[0]·x + cs[1])·x + ...) + cs[n-1].
func (v *vgen) poly(x vr, cs []vc, dst vr) {
	v.load(cs[0], dst)
	for _, c := range cs[1:] {
		v.fma(x, c, dst)
	}
}

// exp sets dst = e^src as kernels.Exp32 computes it (src < -87.3 gives
// 0, src > 88.7 +Inf, NaN NaN). src is kept; t1, t2 are clobbered.
func (v *vgen) exp(src, dst, t1, t2 vr) {
	v.mul(src, cLog2e, t1)
	if v.avx512 {
		v.op("VRNDSCALEPS", "$0", t1, t1)
	} else {
		v.op("VROUNDPS", "$0", t1, t1)
	}
	// r = src - n·ln2 in two steps; e^r = 1 + r + r²·P(r).
	v.load(src, t2)
	v.fnmaAcc(t1, cLn2Hi, t2)
	v.fnmaAcc(t1, cLn2Lo, t2)
	v.poly(t2, cExpPoly, dst)
	v.mul(dst, t2, dst)
	v.fma(t2, t2, dst)
	v.add(dst, cOne, dst)
	if v.avx512 {
		v.op("VSCALEFPS", t1, dst, dst)
	} else {
		// 2ⁿ = 2^(n>>1) · 2^(n-(n>>1)), each a normal number for
		// -87.3 <= src <= 88.7.
		v.op("VCVTPS2DQ", t1, t1)
		v.op("VPSRAD", "$1", t1, t2)
		v.op("VPSUBD", t2, t1, t1)
		v.op("VPADDD", cBias, t2, t2)
		v.op("VPSLLD", "$23", t2, t2)
		v.mul(dst, t2, dst)
		v.op("VPADDD", cBias, t1, t1)
		v.op("VPSLLD", "$23", t1, t1)
		v.mul(dst, t1, dst)
	}
	v.sel(cmpLT, src, cExpLo, cZero, dst)
	v.sel(cmpGT, src, cExpHi, cInf, dst)
}

// sigmoid sets dst = 1/(1+e^-src) as kernels.Sigmoid32 computes it: from
// e = e^-|src|, 1/(1+e) for src >= 0 and e/(1+e) below. t1..t4 are
// clobbered.
func (v *vgen) sigmoid(src, dst, t1, t2, t3, t4 vr) {
	v.or(src, cSign, t4) // -|src|
	v.exp(t4, t1, t2, t3)
	v.add(t1, cOne, t2)
	v.load(cOne, dst)
	v.div(dst, t2, dst)
	v.mul(t1, dst, t1)
	v.sel(cmpLT, src, cZero, t1, dst)
}

// tanh sets dst = tanh(src) as kernels.Tanh32 computes it: the odd
// polynomial below |src| = 0.625, 1 - 2/(e^{2|src|}+1) with the sign of
// src above. t1..t4 are clobbered.
func (v *vgen) tanh(src, dst, t1, t2, t3, t4 vr) {
	v.and(src, cAbs, t1)
	v.add(t1, t1, t2)
	v.exp(t2, dst, t3, t4)
	v.add(dst, cOne, dst)
	v.load(cTwo, t2)
	v.div(t2, dst, t2)
	v.load(cOne, dst)
	v.sub(dst, t2, dst)
	v.and(src, cSign, t2)
	v.or(dst, t2, dst)
	v.mul(src, src, t2)
	v.poly(t2, cTanhPoly, t3)
	v.mul(t3, t2, t3)
	v.fma(src, src, t3) // q·z·x + x
	v.sel(cmpLT, t1, cTanhSmall, t3, dst)
}

// erfcPos sets dst = erfc(a) for a >= 0 as kernels.Erfc32 computes it:
// t·e^{P(t)-a²} with t = 1/(1+a/2). a, t1..t3 are clobbered.
func (v *vgen) erfcPos(a, dst, t1, t2, t3 vr) {
	v.mul(a, cHalf, t1)
	v.add(t1, cOne, t1)
	v.load(cOne, t2)
	v.div(t2, t1, t2)
	v.poly(t2, cErfcPoly, t1)
	v.fnmaAcc(a, a, t1)
	v.exp(t1, dst, a, t3)
	v.mul(dst, t2, dst)
}

// The kernels. Arguments are pointers and ints of 8 bytes and float32s of
// 4, laid out in order.

// mapKernel emits func name(y, x *float32, n int): y = f(x) blockwise.
func (v *vgen) mapKernel(name string, body func(x, y vr)) {
	fn := name + v.suffix()
	v.comment("func %s(y, x *float32, n int)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-24", fn)
	v.i("MOVQ y+0(FP), DI")
	v.i("MOVQ x+8(FP), SI")
	v.i("MOVQ n+16(FP), CX")
	v.loop(fn, "n+16(FP)", func() {
		v.load(vm("SI"), 0)
		body(0, 1)
		v.store(1, vm("DI"))
	}, "SI", "DI")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// loop emits CX>>4 iterations of body, advancing the pointer registers
// by one block each. If nArg (the argument slot of n, e.g. "n+16(FP)")
// is not empty, body runs once more on the last n%16 elements, with
// masked loads and stores, so that every element goes through the same
// instructions wherever it lies (batched and single results agree bit for
// bit). body must reach memory only through load and store.
func (v *vgen) loop(fn, nArg string, body func(), ptrs ...string) {
	v.i("SHRQ $4, CX")
	v.i("JZ %s_done", fn)
	v.l(fn + "_loop")
	body()
	for _, p := range ptrs {
		v.i("ADDQ $64, %s", p)
	}
	v.i("DECQ CX")
	v.i("JNZ %s_loop", fn)
	v.l(fn + "_done")
	if nArg == "" {
		return
	}
	v.i("MOVQ %s, CX", nArg)
	v.i("ANDQ $15, CX")
	v.i("JZ %s_end", fn)
	if v.avx512 {
		v.i("MOVL $1, AX")
		v.i("SHLL CX, AX")
		v.i("DECL AX")
		v.i("KMOVW AX, K2")
	} else {
		v.i("LEAQ vecTailMask<>+64(SB), R11")
		v.i("SHLQ $2, CX")
		v.i("SUBQ CX, R11")
	}
	v.tail = true
	body()
	v.tail = false
	v.l(fn + "_end")
}

// reduce leaves the horizontal op ("VADDPS" or "VMAXPS") of logical
// register r's 16 lanes in the low lane of X0 (r must be 0).
func (v *vgen) reduce(ins string) {
	if v.avx512 {
		v.i("VEXTRACTF64X4 $1, Z0, Y1")
		v.i("%s Y1, Y0, Y0", ins)
	} else {
		v.i("%s Y1, Y0, Y0", ins)
	}
	v.i("VEXTRACTF128 $1, Y0, X1")
	v.i("%s X1, X0, X0", ins)
	v.i("VPERMILPS $0x4e, X0, X1")
	v.i("%s X1, X0, X0", ins)
	v.i("VPERMILPS $0xb1, X0, X1")
	v.i("%s X1, X0, X0", ins)
}

func (v *vgen) kernels() {
	v.mapKernel("vecExp", func(x, y vr) { v.exp(x, y, 2, 3) })
	v.mapKernel("vecSigmoid", func(x, y vr) { v.sigmoid(x, y, 2, 3, 4, 5) })
	v.mapKernel("vecTanh", func(x, y vr) { v.tanh(x, y, 2, 3, 4, 5) })
	v.mapKernel("vecQuickGELU", func(x, y vr) {
		v.mul(x, cQuickAlpha, 6)
		v.sigmoid(6, y, 2, 3, 4, 5)
		v.mul(y, x, y)
	})
	v.mapKernel("vecGELU", func(x, y vr) {
		// 0.5·x·erfc(-x/√2): erfc of a = |x|/√2, reflected where -x/√2 < 0.
		v.and(x, cAbs, 2)
		v.mul(2, cInvSqrt2, 2)
		v.erfcPos(2, y, 3, 4, 5)
		v.load(cTwo, 3)
		v.sub(3, y, 3)
		v.sel(cmpGT, x, cZero, 3, y)
		v.mul(y, x, y)
		v.mul(y, cHalf, y)
	})
	v.mapKernel("vecGELUTanh", func(x, y vr) {
		// 0.5·x·(1+tanh(√(2/π)(x+0.044715x³)))
		v.mul(x, x, 2)
		v.mul(2, cGeluCoeff, 2)
		v.fma(x, x, 2) // (c·x²)·x + x
		v.mul(2, cSqrt2OverPi, 2)
		v.tanh(2, y, 3, 4, 5, 6)
		v.add(y, cOne, y)
		v.mul(y, x, y)
		v.mul(y, cHalf, y)
	})
	v.gradKernel("vecGELUBackward", func(x, g vr) {
		// cdf + x·pdf, cdf = 0.5·erfc(-x/√2), pdf = e^{-x²/2}/√(2π).
		v.and(x, cAbs, 2)
		v.mul(2, cInvSqrt2, 2)
		v.erfcPos(2, g, 3, 4, 5)
		v.load(cTwo, 3)
		v.sub(3, g, 3)
		v.sel(cmpGT, x, cZero, 3, g)
		v.mul(g, cHalf, g)
		v.mul(x, x, 2)
		v.mul(2, cMinusHalf, 2)
		v.exp(2, 3, 4, 5)
		v.mul(3, cInvSqrt2Pi, 3)
		v.fmaAcc(3, x, g)
	})
	v.gradKernel("vecGELUTanhBackward", func(x, g vr) {
		// 0.5(1+t) + 0.5·x·(1-t²)·√(2/π)(1+3c·x²), t = tanh(u).
		v.mul(x, x, 2)
		v.mul(2, cGeluCoeff, 2)
		v.fma(x, x, 2)
		v.mul(2, cSqrt2OverPi, 2)
		v.tanh(2, g, 3, 4, 5, 6)
		v.mul(x, x, 2)
		v.mul(2, cGeluCoeff3, 2)
		v.add(2, cOne, 2)
		v.mul(2, cSqrt2OverPi, 2) // du
		v.load(cOne, 3)
		v.fnmaAcc(g, g, 3) // 1 - t²
		v.mul(3, 2, 3)
		v.mul(3, x, 3)
		v.add(g, cOne, g)
		v.add(g, 3, g)
		v.mul(g, cHalf, g)
	})
	v.gradKernel("vecQuickGELUBackward", func(x, g vr) {
		// s + α·x·s·(1-s), s = σ(αx).
		v.mul(x, cQuickAlpha, 6)
		v.sigmoid(6, g, 2, 3, 4, 5)
		v.load(cOne, 2)
		v.sub(2, g, 2)
		v.mul(2, g, 2)
		v.mul(2, x, 2)
		v.fmaAcc(2, cQuickAlpha, g)
	})
	v.binKernel("vecAdd", "VADDPS")
	v.binKernel("vecSub", "VSUBPS")
	v.binKernel("vecMul", "VMULPS")
	v.addTo()
	v.mulAddTo()
	v.axpy()
	v.scale()
	v.sum()
	v.max()
	v.sumSqDev()
	v.expSum()
	v.norm()
	v.adamW()
}

// gradKernel emits func name(dx, dy, x *float32, n int): dx += dy·f'(x),
// where body leaves f'(x) in g.
func (v *vgen) gradKernel(name string, body func(x, g vr)) {
	fn := name + v.suffix()
	v.comment("func %s(dx, dy, x *float32, n int)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-32", fn)
	v.i("MOVQ dx+0(FP), DI")
	v.i("MOVQ dy+8(FP), DX")
	v.i("MOVQ x+16(FP), SI")
	v.i("MOVQ n+24(FP), CX")
	v.loop(fn, "n+24(FP)", func() {
		v.load(vm("SI"), 0)
		body(0, 1)
		v.load(vm("DX"), 2)
		v.load(vm("DI"), 3)
		v.fmaAcc(1, 2, 3)
		v.store(3, vm("DI"))
	}, "SI", "DI", "DX")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// binKernel emits func name(y, a, b *float32, n int): y = a ins b.
func (v *vgen) binKernel(name, ins string) {
	fn := name + v.suffix()
	v.comment("func %s(y, a, b *float32, n int)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-32", fn)
	v.i("MOVQ y+0(FP), DI")
	v.i("MOVQ a+8(FP), SI")
	v.i("MOVQ b+16(FP), DX")
	v.i("MOVQ n+24(FP), CX")
	v.loop(fn, "n+24(FP)", func() {
		v.load(vm("SI"), 0)
		v.load(vm("DX"), 1)
		v.op(ins, vr(1), vr(0), vr(0))
		v.store(0, vm("DI"))
	}, "SI", "DI", "DX")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// addTo emits vecAddTo(y, x *float32, n int): y += x.
func (v *vgen) addTo() {
	fn := "vecAddTo" + v.suffix()
	v.comment("func %s(y, x *float32, n int)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-24", fn)
	v.i("MOVQ y+0(FP), DI")
	v.i("MOVQ x+8(FP), SI")
	v.i("MOVQ n+16(FP), CX")
	v.loop(fn, "n+16(FP)", func() {
		v.load(vm("DI"), 0)
		v.load(vm("SI"), 1)
		v.add(0, 1, 0)
		v.store(0, vm("DI"))
	}, "SI", "DI")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// mulAddTo emits vecMulAddTo(y, a, b *float32, n int): y += a⊙b.
func (v *vgen) mulAddTo() {
	fn := "vecMulAddTo" + v.suffix()
	v.comment("func %s(y, a, b *float32, n int)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-32", fn)
	v.i("MOVQ y+0(FP), DI")
	v.i("MOVQ a+8(FP), SI")
	v.i("MOVQ b+16(FP), DX")
	v.i("MOVQ n+24(FP), CX")
	v.loop(fn, "n+24(FP)", func() {
		v.load(vm("DI"), 0)
		v.load(vm("SI"), 1)
		v.load(vm("DX"), 2)
		v.fmaAcc(1, 2, 0)
		v.store(0, vm("DI"))
	}, "SI", "DI", "DX")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// axpy emits vecAxpy(y, x *float32, n int, a float32): y += a·x.
func (v *vgen) axpy() {
	fn := "vecAxpy" + v.suffix()
	v.comment("func %s(y, x *float32, n int, a float32)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-28", fn)
	v.i("MOVQ y+0(FP), DI")
	v.i("MOVQ x+8(FP), SI")
	v.i("MOVQ n+16(FP), CX")
	v.bcast("a+24(FP)", 2)
	v.loop(fn, "n+16(FP)", func() {
		v.load(vm("DI"), 0)
		v.load(vm("SI"), 1)
		v.fmaAcc(2, 1, 0)
		v.store(0, vm("DI"))
	}, "SI", "DI")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// scale emits vecScale(y, x *float32, n int, a float32): y = a·x.
func (v *vgen) scale() {
	fn := "vecScale" + v.suffix()
	v.comment("func %s(y, x *float32, n int, a float32)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-28", fn)
	v.i("MOVQ y+0(FP), DI")
	v.i("MOVQ x+8(FP), SI")
	v.i("MOVQ n+16(FP), CX")
	v.bcast("a+24(FP)", 2)
	v.loop(fn, "n+16(FP)", func() {
		v.load(vm("SI"), 0)
		v.mul(0, 2, 0)
		v.store(0, vm("DI"))
	}, "SI", "DI")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// reduction emits func fn(x *float32, n int, args...) float32 whose loop
// body folds one block (loaded into register 2) into the accumulator 0;
// init sets up the accumulator and other registers; ins is the
// horizontal op. argBytes is the size of the arguments after n.
func (v *vgen) reduction(name, sig string, argBytes int, init func(), body func(), ins string, ptrs ...string) {
	fn := name + v.suffix()
	v.comment("func %s(%s) float32", fn, sig)
	ret := 16 + argBytes
	v.i("TEXT ·%s(SB), NOSPLIT, $0-%d", fn, ret+4)
	v.i("MOVQ x+0(FP), SI")
	v.i("MOVQ n+8(FP), CX")
	init()
	v.loop(fn, "", body, append([]string{"SI"}, ptrs...)...)
	v.reduce(ins)
	v.i("MOVSS X0, ret+%d(FP)", ret)
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// sum emits vecSum(x *float32, n int) float32.
func (v *vgen) sum() {
	v.reduction("vecSum", "x *float32, n int", 0, func() { v.load(cZero, 0) }, func() {
		v.load(vm("SI"), 2)
		v.add(0, 2, 0)
	}, "VADDPS")
}

// max emits vecMax(x *float32, n int) float32 (n >= 16; NaNs may be
// skipped).
func (v *vgen) max() {
	v.reduction("vecMax", "x *float32, n int", 0, func() { v.load(cNegInf, 0) }, func() {
		v.load(vm("SI"), 2)
		v.op("VMAXPS", vr(2), vr(0), vr(0))
	}, "VMAXPS")
}

// sumSqDev emits vecSumSqDev(x *float32, n int, mu float32) float32:
// Σ(x-mu)².
func (v *vgen) sumSqDev() {
	v.reduction("vecSumSqDev", "x *float32, n int, mu float32", 8, func() {
		v.load(cZero, 0)
		v.bcast("mu+16(FP)", 3)
	}, func() {
		v.load(vm("SI"), 2)
		v.sub(2, 3, 2)
		v.fmaAcc(2, 2, 0)
	}, "VADDPS")
}

// expSum emits vecExpSum(x *float32, n int, mx float32) float32: x =
// e^(x-mx) in place, returning Σx.
func (v *vgen) expSum() {
	fn := "vecExpSum" + v.suffix()
	v.comment("func %s(x *float32, n int, mx float32) float32", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-28", fn)
	v.i("MOVQ x+0(FP), SI")
	v.i("MOVQ n+8(FP), CX")
	v.load(cZero, 0)
	v.bcast("mx+16(FP)", 6)
	v.loop(fn, "", func() {
		v.load(vm("SI"), 1)
		v.sub(1, 6, 1)
		v.exp(1, 2, 3, 4)
		v.store(2, vm("SI"))
		v.add(0, 2, 0)
	}, "SI")
	v.reduce("VADDPS")
	v.i("MOVSS X0, ret+24(FP)")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// norm emits vecNorm(y, x, w, b *float32, n int, mu, rs float32):
// y = (x-mu)·rs·w + b, with w == nil meaning 1 and b == nil 0.
func (v *vgen) norm() {
	fn := "vecNorm" + v.suffix()
	v.comment("func %s(y, x, w, b *float32, n int, mu, rs float32)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-48", fn)
	v.i("MOVQ y+0(FP), DI")
	v.i("MOVQ x+8(FP), SI")
	v.i("MOVQ w+16(FP), R8")
	v.i("MOVQ b+24(FP), R9")
	v.i("MOVQ n+32(FP), CX")
	v.bcast("mu+40(FP)", 4)
	v.bcast("rs+44(FP)", 5)
	for _, c := range []struct {
		w, b bool
	}{{true, true}, {true, false}, {false, true}, {false, false}} {
		lbl := fmt.Sprintf("%s_w%v_b%v", fn, c.w, c.b)
		v.l(lbl)
		if c.w {
			v.i("TESTQ R8, R8")
			v.i("JZ %s_w%v_b%v", fn, false, c.b)
		}
		if c.b {
			v.i("TESTQ R9, R9")
			v.i("JZ %s_w%v_b%v", fn, c.w, false)
		}
		ptrs := []string{"SI", "DI"}
		if c.w {
			ptrs = append(ptrs, "R8")
		}
		if c.b {
			ptrs = append(ptrs, "R9")
		}
		v.loop(lbl, "n+32(FP)", func() {
			v.load(vm("SI"), 0)
			v.sub(0, 4, 0)
			v.mul(0, 5, 0)
			if c.w {
				v.load(vm("R8"), 1)
				v.mul(0, 1, 0)
			}
			if c.b {
				v.load(vm("R9"), 2)
				v.add(0, 2, 0)
			}
			v.store(0, vm("DI"))
		}, ptrs...)
		v.i("VZEROUPPER")
		v.i("RET")
	}
	v.blank()
}

// adamW emits vecAdamW(w, g, m, v *float32, n int, p [8]float32) with
// p = decay, β₁, 1-β₁, β₂, 1-β₂, √(1-β₂ᵗ), ε, lr/(1-β₁ᵗ):
//
//	w ← w·decay; m ← β₁m + (1-β₁)g; v ← β₂v + (1-β₂)g²;
//	w ← w - step·m/(√v/√(1-β₂ᵗ) + ε)
func (v *vgen) adamW() {
	fn := "vecAdamW" + v.suffix()
	v.comment("func %s(w, gr, m, v *float32, n int, p [8]float32)", fn)
	v.i("TEXT ·%s(SB), NOSPLIT, $0-72", fn)
	v.i("MOVQ w+0(FP), DI")
	v.i("MOVQ gr+8(FP), SI")
	v.i("MOVQ m+16(FP), R8")
	v.i("MOVQ v+24(FP), R9")
	v.i("MOVQ n+32(FP), CX")
	// Parameters stay in the argument frame (broadcast per use) to leave
	// registers for AVX2.
	par := func(i int) string { return fmt.Sprintf("p_%d+%d(FP)", i, 40+4*i) }
	bc := func(i int, dst vr) { v.bcast(par(i), dst) }
	v.loop(fn, "n+32(FP)", func() {
		v.load(vm("SI"), 0) // g
		v.load(vm("R8"), 1) // m
		bc(1, 3)
		v.mul(1, 3, 1)
		bc(2, 3)
		v.fmaAcc(0, 3, 1)
		v.store(1, vm("R8"))
		v.load(vm("R9"), 2) // v
		bc(3, 3)
		v.mul(2, 3, 2)
		bc(4, 3)
		v.mul(0, 3, 3)
		v.fmaAcc(3, 0, 2)
		v.store(2, vm("R9"))
		v.op("VSQRTPS", vr(2), vr(2))
		bc(5, 3)
		v.div(2, 3, 2)
		bc(6, 3)
		v.add(2, 3, 2)
		bc(7, 3)
		v.mul(1, 3, 1)
		v.div(1, 2, 1) // step·m/denom
		v.load(vm("DI"), 0)
		bc(0, 3)
		v.mul(0, 3, 0)
		v.sub(0, 1, 0)
		v.store(0, vm("DI"))
	}, "SI", "DI", "R8", "R9")
	v.i("VZEROUPPER")
	v.i("RET")
	v.blank()
}

// vecFile returns the text of vec_amd64.s.
func vecFile() []byte {
	g := &gen{}
	g.b.WriteString("// Code generated by go run ./asmgen -vec; DO NOT EDIT.\n\n")
	g.b.WriteString("//go:build amd64 && !purego\n\n")
	g.b.WriteString("#include \"textflag.h\"\n\n")
	body := &gen{}
	for _, avx512 := range []bool{true, false} {
		(&vgen{gen: body, avx512: avx512}).kernels()
	}
	names := make([]string, 0, len(vecConsts))
	for n := range vecConsts {
		names = append(names, string(n))
	}
	slices.Sort(names)
	for _, n := range names {
		for i := range 16 {
			fmt.Fprintf(&g.b, "DATA vec_%s<>+%d(SB)/4, $0x%08x\n", n, 4*i, vecConsts[vc(n)])
		}
		fmt.Fprintf(&g.b, "GLOBL vec_%s<>(SB), RODATA|NOPTR, $64\n", n)
	}
	g.comment("vecTailMask: 16 all-ones words then 16 zero words; the 16 words at")
	g.comment("vecTailMask+4*(16-r) mask the first r lanes of two ymm registers.")
	for i := range 32 {
		w := uint32(0xffffffff)
		if i >= 16 {
			w = 0
		}
		fmt.Fprintf(&g.b, "DATA vecTailMask<>+%d(SB)/4, $0x%08x\n", 4*i, w)
	}
	g.b.WriteString("GLOBL vecTailMask<>(SB), RODATA|NOPTR, $128\n")
	g.blank()
	g.b.Write(body.b.Bytes())
	return g.b.Bytes()
}
