package sim

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"
	"unicode/utf8"
)

// Prefix cache defaults (Config.PrefixCache).
const (
	// DefaultPrefixCacheBlocks is the cache's capacity: 262,144 tokens in
	// blocks of 16, a small GPU's KV cache.
	DefaultPrefixCacheBlocks = 16384
	// DefaultPrefixCacheBlockTokens is vLLM's default block size.
	DefaultPrefixCacheBlockTokens = 16
	// DefaultPrefillShare is the share of TTFT a fully cached prompt saves:
	// the rest is the first decode step and scheduling.
	DefaultPrefillShare = 0.9
	// maxBlockTokens bounds PrefixCache.BlockTokens.
	maxBlockTokens = 1 << 12
)

// ChatTemplateHeader is what the simulator's chat template renders before
// a chat request's messages when its prefix cache is on: ChatTemplateTokens
// tokens (by the estimate of CharsPerToken characters per token) that are
// the same in every request, as a real template's header is.
const ChatTemplateHeader = "<|im_start|>system<|im_sep|>sim chat template, same in every request.<|im_end|>\n"

// ChatTemplateTokens is the tokens of ChatTemplateHeader.
const ChatTemplateTokens = len(ChatTemplateHeader) / CharsPerToken

// PrefixCache configures the simulated prefix cache, shaped like vLLM's
// automatic prefix caching: a chat request's rendered prompt
// (ChatTemplateHeader, then the text of its messages in order) or a
// completions prompt string is cut into tokens of CharsPerToken characters
// and those into blocks of BlockTokens tokens, each identified by a hash of
// its text chained with the previous block's, so that a block matches only
// after the same prefix. The cached tokens are the full blocks that lead
// the prompt and are in the cache, at most prompt_tokens-1 (the last token
// is always computed), reported as usage.prompt_tokens_details.cached_tokens;
// then every block of the prompt is cached. Text after an image part, and
// token id prompts, are never cached. The cache evicts least recently used
// blocks, a prompt's last blocks first. With the cache on, chat prompt
// tokens include the template's ChatTemplateTokens.
type PrefixCache struct {
	// Enabled turns the cache on; off (the default), cached_tokens is 0
	// and TTFT does not depend on the prompt.
	Enabled bool
	// Blocks is the capacity in blocks; default DefaultPrefixCacheBlocks.
	Blocks int
	// BlockTokens is the tokens of a block; default
	// DefaultPrefixCacheBlockTokens.
	BlockTokens int
	// PrefillShare is the share of TTFT that prefill takes and cached
	// tokens save in proportion: a request with cached of its prompt
	// tokens cached waits TTFT * (1 - PrefillShare * cached/prompt) for
	// its first token. Default DefaultPrefillShare.
	PrefillShare float64
}

func (p PrefixCache) withDefaults() PrefixCache {
	if p.Blocks == 0 {
		p.Blocks = DefaultPrefixCacheBlocks
	}
	if p.BlockTokens == 0 {
		p.BlockTokens = DefaultPrefixCacheBlockTokens
	}
	if p.PrefillShare == 0 {
		p.PrefillShare = DefaultPrefillShare
	}
	return p
}

// ttft returns the TTFT of a request with cached of its prompt tokens cached.
func (p PrefixCache) ttft(ttft time.Duration, cached, prompt int) time.Duration {
	if cached <= 0 || prompt <= 0 {
		return ttft
	}
	return time.Duration(float64(ttft) * (1 - p.PrefillShare*float64(cached)/float64(prompt)))
}

// blockHasher cuts a prompt's text into blocks and hashes each, chained
// with the previous one.
type blockHasher struct {
	h       maphash.Hash
	size    int // characters per block
	chars   int // characters of the block being hashed
	blocks  []uint64
	stopped bool // an image: nothing after it is cached
}

func (b *blockHasher) reset(seed maphash.Seed, blockTokens int) {
	b.h.SetSeed(seed)
	b.size = blockTokens * CharsPerToken
	b.chars = 0
	b.blocks = b.blocks[:0]
	b.stopped = false
}

// write adds s to the prompt; nothing on a nil hasher.
func (b *blockHasher) write(s string) {
	if b == nil || b.stopped {
		return
	}
	for len(s) > 0 {
		// Characters as utf8.RuneCountInString counts them (an invalid
		// byte is one), so that blocks agree with the token estimate.
		i, n := 0, 0
		for need := b.size - b.chars; i < len(s) && n < need; n++ {
			if s[i] < utf8.RuneSelf {
				i++
			} else {
				_, size := utf8.DecodeRuneInString(s[i:])
				i += size
			}
		}
		_, _ = b.h.WriteString(s[:i])
		b.chars += n
		s = s[i:]
		if b.chars == b.size {
			sum := b.h.Sum64()
			b.blocks = append(b.blocks, sum)
			b.h.Reset()
			var parent [8]byte
			binary.LittleEndian.PutUint64(parent[:], sum)
			_, _ = b.h.Write(parent[:])
			b.chars = 0
		}
	}
}

// stop ends the cacheable prefix (an image part).
func (b *blockHasher) stop() {
	if b != nil {
		b.stopped = true
	}
}

// full returns the blocks that may be served from the cache for a prompt
// of prompt tokens: those within its first prompt-1 tokens.
func (b *blockHasher) full(prompt, blockTokens int) []uint64 {
	if b == nil {
		return nil
	}
	return b.blocks[:min(len(b.blocks), max(prompt-1, 0)/blockTokens)]
}

// prefixCache is a set of block hashes with least-recently-used eviction:
// a doubly linked list through nodes, most recent at head.
type prefixCache struct {
	mu         sync.Mutex
	capacity   int
	index      map[uint64]int32
	nodes      []lruNode
	head, tail int32
}

type lruNode struct {
	key        uint64
	prev, next int32
}

func newPrefixCache(capacity int) *prefixCache {
	return &prefixCache{capacity: capacity, index: make(map[uint64]int32), head: -1, tail: -1}
}

// lookup returns how many blocks lead blocks and are cached, then caches
// all of blocks: the prompt has been computed. The blocks are touched last
// to first, so that a prompt's first blocks, which more prompts share, are
// evicted last (vLLM frees a request's blocks in reverse order too).
func (c *prefixCache) lookup(blocks []uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	hit := 0
	for hit < len(blocks) {
		if _, ok := c.index[blocks[hit]]; !ok {
			break
		}
		hit++
	}
	for i := len(blocks) - 1; i >= 0; i-- {
		c.touch(blocks[i])
	}
	return hit
}

// touch makes key the most recent block, adding it (and evicting the least
// recent one when full) if it is not cached. Called with c.mu held.
func (c *prefixCache) touch(key uint64) {
	i, ok := c.index[key]
	switch {
	case ok:
		if i == c.head {
			return
		}
		c.unlink(i)
	case len(c.nodes) < c.capacity:
		i = int32(len(c.nodes))
		c.nodes = append(c.nodes, lruNode{key: key})
		c.index[key] = i
	default:
		i = c.tail
		c.unlink(i)
		delete(c.index, c.nodes[i].key)
		c.nodes[i].key = key
		c.index[key] = i
	}
	c.nodes[i].prev, c.nodes[i].next = -1, c.head
	if c.head >= 0 {
		c.nodes[c.head].prev = i
	}
	c.head = i
	if c.tail < 0 {
		c.tail = i
	}
}

func (c *prefixCache) unlink(i int32) {
	n := &c.nodes[i]
	if n.prev >= 0 {
		c.nodes[n.prev].next = n.next
	} else {
		c.head = n.next
	}
	if n.next >= 0 {
		c.nodes[n.next].prev = n.prev
	} else {
		c.tail = n.prev
	}
}

// len returns the number of cached blocks.
func (c *prefixCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}

// clear empties the cache, as a restarted server's is.
func (c *prefixCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.index)
	c.nodes = c.nodes[:0]
	c.head, c.tail = -1, -1
}
