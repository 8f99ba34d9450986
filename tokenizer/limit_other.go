//go:build !linux || race || asan || msan

package tokenizer

// childMemoryLimited says whether limitChild bounds the child's memory.
const childMemoryLimited = false

// limitChild does nothing here: there is no address-space limit that
// works (or, in race and sanitizer builds, that leaves room for their
// shadow memory); the parent's timeout still bounds the child.
func limitChild(int) {}
