package config

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a config's targets (the daemon's --shard
// I/N): a target belongs to the shard its name hashes to, as Prometheus'
// hashmod relabel action computes it, so that N daemons given one config
// split its targets and each target is probed by exactly one of them. The
// zero Shard (Count 0) is no sharding: it keeps everything.
type Shard struct {
	Index, Count int
}

// MaxShards bounds N of --shard I/N.
const MaxShards = 1 << 16

// ParseShard reads "I/N" with 0 <= I < N.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	idx, err1 := strconv.Atoi(i)
	cnt, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want I/N, such as 0/2", s)
	}
	sh := Shard{Index: idx, Count: cnt}
	return sh, sh.check()
}

func (s Shard) check() error {
	if s.Count < 1 || s.Count > MaxShards {
		return fmt.Errorf("shard %d/%d: N must be between 1 and %d", s.Index, s.Count, MaxShards)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard %d/%d: I must be between 0 and N-1 (%d)", s.Index, s.Count, s.Count-1)
	}
	return nil
}

// String returns "I/N", "" for no sharding.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}

// Set implements kingpin.Value, so that a flag parses (and refuses) I/N.
func (s *Shard) Set(v string) error {
	sh, err := ParseShard(v)
	if err != nil {
		return err
	}
	*s = sh
	return nil
}

// HashMod is Prometheus' hashmod of value: the last 8 bytes of its MD5 sum,
// read big-endian, modulo n (model/relabel's HashMod action), so that a
// target lands in the same shard as a Prometheus relabel_config with
// action: hashmod on its name would put it.
func HashMod(value string, n uint64) uint64 {
	sum := md5.Sum([]byte(value))
	return binary.BigEndian.Uint64(sum[8:]) % n
}

// Owns reports whether the target named name belongs to the shard.
func (s Shard) Owns(name string) bool {
	return s.Count <= 1 || HashMod(name, uint64(s.Count)) == uint64(s.Index)
}

// ShardReport says what ForShard kept and left to the other shards.
type ShardReport struct {
	Shard   Shard
	Targets int      // targets in the config
	Kept    []string // this shard's targets
	// Others are the other shards' targets; Probes and Soaks those left
	// with none of this shard's targets, dropped whole.
	Others, Probes, Soaks []string
}

// ForShard returns a copy of c holding only the shard's targets: probes and
// soaks keep only those of their targets, and those left with none are
// dropped. c is not changed. The zero Shard returns c itself.
func (c *Config) ForShard(s Shard) (*Config, ShardReport, error) {
	rep := ShardReport{Shard: s, Targets: len(c.Targets)}
	if s.Count == 0 {
		for _, t := range c.Targets {
			rep.Kept = append(rep.Kept, t.Name)
		}
		return c, rep, nil
	}
	if err := s.check(); err != nil {
		return nil, rep, err
	}
	out := *c
	out.Targets = nil
	for _, t := range c.Targets {
		if s.Owns(t.Name) {
			out.Targets = append(out.Targets, t)
			rep.Kept = append(rep.Kept, t.Name)
		} else {
			rep.Others = append(rep.Others, t.Name)
		}
	}
	keep := func(names []string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !s.Owns(n) })
	}
	out.Probes = nil
	for _, p := range c.Probes {
		if p.Targets = keep(p.Targets); len(p.Targets) == 0 {
			rep.Probes = append(rep.Probes, p.Name)
			continue
		}
		out.Probes = append(out.Probes, p)
	}
	out.Soaks = nil
	for _, sk := range c.Soaks {
		if sk.Targets = keep(sk.Targets); len(sk.Targets) == 0 {
			rep.Soaks = append(rep.Soaks, sk.Name)
			continue
		}
		out.Soaks = append(out.Soaks, sk)
	}
	return &out, rep, nil
}
