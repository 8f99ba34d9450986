package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPrefixCacheMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewPrefixCacheMetrics(reg)
	m.Set("sim", "sim-model", "probe", "groups", PrefixCacheGain{Ratio: 0.75, ColdTTFT: 0.08, WarmTTFT: 0.02, ColdHitRatio: 0, WarmHitRatio: 1})
	m.Set("other", "m", "soak", "chat", PrefixCacheGain{Ratio: -0.1, ColdTTFT: 0.1, WarmTTFT: 0.11, WarmHitRatio: 0.5})
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	want := `
# HELP llmprobe_prefix_cache_ttft_gain_ratio Share of a cold request's median time to first token that the server's prefix cache saved in the last run of a probe or soak with conversations or shared prefixes: (cold - warm) / cold, warm being requests whose prefix the cache should hold (later turns, a shared-prefix group's later requests) and cold those it cannot yet (first turns, each group's first request of the run). 0: no gain; negative: warm requests were slower. Set when the run ends.
# TYPE llmprobe_prefix_cache_ttft_gain_ratio gauge
llmprobe_prefix_cache_ttft_gain_ratio{model="m",name="chat",phase="soak",target="other"} -0.1
llmprobe_prefix_cache_ttft_gain_ratio{model="sim-model",name="groups",phase="probe",target="sim"} 0.75
# HELP llmprobe_prefix_cache_time_to_first_token_seconds Median time to first token of the last run's cold and warm requests (cache label), as llmprobe_prefix_cache_ttft_gain_ratio compares them.
# TYPE llmprobe_prefix_cache_time_to_first_token_seconds gauge
llmprobe_prefix_cache_time_to_first_token_seconds{cache="cold",model="m",name="chat",phase="soak",target="other"} 0.1
llmprobe_prefix_cache_time_to_first_token_seconds{cache="cold",model="sim-model",name="groups",phase="probe",target="sim"} 0.08
llmprobe_prefix_cache_time_to_first_token_seconds{cache="warm",model="m",name="chat",phase="soak",target="other"} 0.11
llmprobe_prefix_cache_time_to_first_token_seconds{cache="warm",model="sim-model",name="groups",phase="probe",target="sim"} 0.02
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "llmprobe_prefix_cache_ttft_gain_ratio", "llmprobe_prefix_cache_time_to_first_token_seconds"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(m.hits.WithLabelValues("other", "m", "soak", "chat", "warm")); got != 0.5 {
		t.Errorf("warm hit ratio %v", got)
	}
	m.Delete(prometheus.Labels{"target": "other"})
	if n := testutil.CollectAndCount(m.gain) + testutil.CollectAndCount(m.ttft) + testutil.CollectAndCount(m.hits); n != 5 {
		t.Errorf("%d series after deleting a target, want the other's 5", n)
	}
	var none *PrefixCacheMetrics
	none.Set("a", "b", "c", "d", PrefixCacheGain{}) // a daemon without them records nothing
	none.Delete(prometheus.Labels{"target": "a"})
}
