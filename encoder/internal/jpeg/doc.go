// Package jpeg is the JPEG decoder of Go 1.26's image/jpeg with the
// inverse DCT replaced by libjpeg's default one (jidctint.c,
// jpeg_idct_islow, as in libjpeg-turbo), so that a JPEG decodes to the Y,
// Cb and Cr samples PIL and every libjpeg-based pipeline see, bit for bit.
// Go's own inverse DCT rounds differently and changes about 2% of the
// samples by one level.
//
// reader.go, huffman.go and scan.go are Go's files (BSD licence, see
// LICENSE) with these changes only: the package does not register itself
// with package image and has no DecodeConfig or Reader (image/jpeg's are
// used), the CMYK path draws with image/draw instead of an internal
// package, and reconstructBlock calls idctISLOW, which also level-shifts
// and range-limits as libjpeg does.
package jpeg

// block is an 8×8 block of DCT coefficients in natural order.
type block [blockSize]int32

const blockSize = 8 * 8
