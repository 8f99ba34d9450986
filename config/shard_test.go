package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestHashModMatchesPrometheus protects the daemon's --shard: a target's
// shard is Prometheus' hashmod of its name, so the values below are those
// of Prometheus' own relabel tests (model/relabel/relabel_test.go), and a
// relabel_config with action: hashmod on the target label agrees with it.
func TestHashModMatchesPrometheus(t *testing.T) {
	for _, tc := range []struct {
		value string
		mod   uint64
		want  uint64
	}{
		{"baz", 1000, 976},
		{"foo\nbar", 1000, 734},
	} {
		if got := HashMod(tc.value, tc.mod); got != tc.want {
			t.Errorf("HashMod(%q, %d) = %d, want %d (Prometheus)", tc.value, tc.mod, got, tc.want)
		}
	}
}

// TestParseShard protects --shard's parsing: I/N with 0 <= I < N, each
// refusal saying what is wanted.
func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"0/2", Shard{0, 2}, ""},
		{" 3/4 ", Shard{3, 4}, ""},
		{"0/1", Shard{0, 1}, ""},
		{"2/2", Shard{}, "I must be between 0 and N-1 (1)"},
		{"-1/2", Shard{}, "I must be between 0 and N-1"},
		{"0/0", Shard{}, "N must be between 1 and 65536"},
		{"1", Shard{}, "want I/N"},
		{"a/2", Shard{}, "want I/N"},
		{"", Shard{}, "want I/N"},
	} {
		got, err := ParseShard(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseShard(%q): error %v, want one saying %q", tc.in, err, tc.err)
		}
	}
}

// TestForShardSplitsTargets protects N daemons over one config: every
// target is kept by exactly one shard, a probe or soak keeps only its
// shard's targets, and one left with none is dropped (and reported); the
// config given is not changed.
func TestForShardSplitsTargets(t *testing.T) {
	c := &Config{}
	var names []string
	for i := range 12 {
		n := fmt.Sprintf("model-%d", i)
		names = append(names, n)
		c.Targets = append(c.Targets, Target{Name: n})
	}
	c.Probes = []Probe{{Name: "all", Targets: slices.Clone(names)}, {Name: "one", Targets: []string{"model-0"}}}
	c.Soaks = []Soak{{Name: "nightly", Targets: []string{"model-0", "model-1"}}}

	for _, n := range []int{1, 2, 3, 4} {
		owner := map[string]int{}
		for i := range n {
			sh := Shard{Index: i, Count: n}
			got, rep, err := c.ForShard(sh)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Kept)+len(rep.Others) != len(names) || rep.Targets != len(names) {
				t.Errorf("%v: kept %v, others %v of %d", sh, rep.Kept, rep.Others, len(names))
			}
			for _, tg := range got.Targets {
				if prev, dup := owner[tg.Name]; dup {
					t.Errorf("target %s kept by shards %d and %d of %d", tg.Name, prev, i, n)
				}
				owner[tg.Name] = i
				if HashMod(tg.Name, uint64(n)) != uint64(i) {
					t.Errorf("%v kept %s, whose hashmod is %d", sh, tg.Name, HashMod(tg.Name, uint64(n)))
				}
			}
			probed := map[string]bool{}
			for _, p := range got.Probes {
				for _, tg := range p.Targets {
					if got.Target(tg) == nil {
						t.Errorf("%v: probe %s keeps target %s of another shard", sh, p.Name, tg)
					}
					probed[tg] = true
				}
				if len(p.Targets) == 0 {
					t.Errorf("%v: probe %s kept with no target", sh, p.Name)
				}
			}
			for _, tg := range got.Targets {
				if !probed[tg.Name] {
					t.Errorf("%v: target %s is not probed by probe all", sh, tg.Name)
				}
			}
			ownsZero := sh.Owns("model-0")
			if hasOne := got.Probe("one") != nil; hasOne != ownsZero || slices.Contains(rep.Probes, "one") == ownsZero {
				t.Errorf("%v: probe one kept %v, reported dropped %v; the shard owns model-0: %v", sh, hasOne, rep.Probes, ownsZero)
			}
			if s := got.Soak("nightly"); (s != nil) != (ownsZero || sh.Owns("model-1")) {
				t.Errorf("%v: soak nightly kept %v", sh, s != nil)
			}
		}
		if len(owner) != len(names) {
			t.Errorf("%d shards: %d of %d targets kept by one", n, len(owner), len(names))
		}
	}
	if len(c.Probes[0].Targets) != len(names) || len(c.Targets) != len(names) {
		t.Error("ForShard changed the config it was given")
	}
	// Two shards split these twelve names 6/6 (not one shard taking all),
	// so the checks above saw a real split.
	if _, rep, _ := c.ForShard(Shard{0, 2}); len(rep.Kept) == 0 || len(rep.Others) == 0 {
		t.Errorf("two shards: kept %v, others %v", rep.Kept, rep.Others)
	}
}
