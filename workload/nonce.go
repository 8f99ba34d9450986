package workload

import (
	crand "crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// Nonces are unique across everything that talks to a server: every
// generator, probe, soak, bench run and /probe call of a process share one
// counter, and each process (a restart, another llmprobe instance) starts it
// at a random offset drawn from crypto/rand. A server's prefix cache
// outlives our restarts and is shared by all our probes, so a nonce that
// depends on the workload's seed would repeat (issue 16); the seed keeps
// deciding prompt choice and lengths only.
//
// A nonce is nonceDigits lowercase hex digits: mix48(offset + n) for the
// process's nth nonce. mix48 is a bijection of 48-bit values, so a process
// repeats none within 2^48 nonces, and consecutive nonces look unrelated
// from their first digit on, so that a cache matching token by token
// (SGLang's radix tree, llama.cpp's longest common prefix) shares no
// leading tokens between them beyond chance. Two processes overlap only if
// their offsets are closer than the nonces they send: for a million each,
// a chance of 7e-9. Twelve hex digits are 3 tokens by the estimate of 4
// characters per token, and about 6 to 8 in BPE vocabularies.
const (
	nonceBits   = 48
	nonceDigits = nonceBits / 4
	nonceMask   = 1<<nonceBits - 1
)

var (
	nonceOffset = randomOffset()
	nonceSeq    atomic.Uint64
)

func randomOffset() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand panics instead)
	return binary.LittleEndian.Uint64(b[:])
}

// newNonce returns the process's next nonce.
func newNonce() string {
	return formatNonce(mix48(nonceOffset + nonceSeq.Add(1)))
}

// mix48 is a bijection of the 48-bit values: each step (xor with a right
// shift, multiplication by an odd number modulo 2^48) is invertible.
func mix48(x uint64) uint64 {
	x &= nonceMask
	x ^= x >> 24
	x = x * 0x9e3779b97f4b & nonceMask
	x ^= x >> 23
	x = x * 0xbf58476d1ce5 & nonceMask
	x ^= x >> 24
	return x
}

func formatNonce(x uint64) string {
	const hex = "0123456789abcdef"
	var b [nonceDigits]byte
	for i := nonceDigits - 1; i >= 0; i-- {
		b[i] = hex[x&0xf]
		x >>= 4
	}
	return string(b[:])
}
