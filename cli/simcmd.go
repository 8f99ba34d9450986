package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/sim"
)

type simOptions struct {
	listen string
	cfg    sim.Config
}

func addSimFlags(cmd *kingpin.CmdClause) *simOptions {
	o := &simOptions{}
	cmd.Flag("listen", "Address to serve the OpenAI-compatible API on.").Default("127.0.0.1:8000").StringVar(&o.listen)
	cmd.Flag("model", "Served model name.").Default(sim.DefaultModel).StringVar(&o.cfg.Model)
	cmd.Flag("ttft", "Time to first token, after a decode slot is free.").Default("100ms").DurationVar(&o.cfg.TTFT)
	cmd.Flag("itl", "Inter-token latency.").Default("10ms").DurationVar(&o.cfg.ITL)
	cmd.Flag("output-tokens", "Tokens generated per request (max_tokens caps it).").Default("64").IntVar(&o.cfg.OutputTokens)
	cmd.Flag("max-concurrency", "Sequences decoded at once; more wait in a FIFO queue (0: unlimited).").Default("0").IntVar(&o.cfg.MaxConcurrency)
	cmd.Flag("max-queue", "Requests that may wait for a slot; more get 429 (0: unlimited).").Default("0").IntVar(&o.cfg.MaxQueue)
	cmd.Flag("tokens-per-chunk", "Tokens per streamed chunk.").Default("1").IntVar(&o.cfg.TokensPerChunk)
	cmd.Flag("reasoning-tokens", "Leading tokens sent as reasoning_content.").Default("0").IntVar(&o.cfg.Reasoning)
	cmd.Flag("jitter", "Relative standard deviation of TTFT and ITL (0: exact).").Default("0").Float64Var(&o.cfg.Jitter)
	cmd.Flag("seed", "Seed of faults and jitter.").Default("1").Int64Var(&o.cfg.Seed)
	cmd.Flag("fault.http-429", "Share of requests answered 429.").Default("0").Float64Var(&o.cfg.Faults.HTTP429)
	cmd.Flag("fault.http-500", "Share of requests answered 500.").Default("0").Float64Var(&o.cfg.Faults.HTTP500)
	cmd.Flag("fault.disconnect", "Share of streams cut mid-way.").Default("0").Float64Var(&o.cfg.Faults.Disconnect)
	cmd.Flag("fault.stall", "Share of streams that stall mid-way.").Default("0").Float64Var(&o.cfg.Faults.Stall)
	cmd.Flag("fault.tool-call-malformed", "Share of tool-call answers (and json_schema documents) whose JSON is cut short: invalid JSON.").Default("0").Float64Var(&o.cfg.Faults.ToolCallMalformed)
	cmd.Flag("fault.tool-call-unknown", "Share of tool-call answers that call a function not among the request's tools.").Default("0").Float64Var(&o.cfg.Faults.ToolCallUnknown)
	cmd.Flag("fault.tool-call-schema", "Share of tool-call answers (and json_schema documents) that violate the schema: a required property left out, else one of the wrong type.").Default("0").Float64Var(&o.cfg.Faults.ToolCallSchema)
	cmd.Flag("fault.slowdown-per-minute", "Latency drift: TTFT and ITL are multiplied by 1 + this × minutes since the (re)start (0.1 doubles them after 10 minutes).").Default("0").Float64Var(&o.cfg.Faults.SlowdownPerMinute)
	cmd.Flag("fault.leak-bytes-per-request", "Bytes the simulated process_resident_memory_bytes grows by per request, never freed until a restart.").Default("0").Int64Var(&o.cfg.Faults.LeakBytesPerRequest)
	cmd.Flag("fault.leak-slot-every", "Every Nth completed request keeps its decode slot and KV tokens in the server's accounting: capacity shrinks, the queue grows (needs --max-concurrency; 0: off).").Default("0").IntVar(&o.cfg.Faults.LeakSlotEvery)
	cmd.Flag("fault.restart-every", "Simulated restart at this interval: streams cut, /metrics counters and histograms from zero, leaks freed (0: never).").Default("0").DurationVar(&o.cfg.Faults.RestartEvery)
	cmd.Flag("kv-cache-tokens", "KV cache capacity in tokens, the denominator of vllm:kv_cache_usage_perc on /metrics.").Default(strconv.Itoa(sim.DefaultKVCacheTokens)).IntVar(&o.cfg.KVCacheTokens)
	cmd.Flag("prefix-cache", "Cache prompt prefixes in blocks, as vLLM's automatic prefix caching does: report usage.prompt_tokens_details.cached_tokens and shorten TTFT for them (chat prompts then count a fixed template header; off, TTFT does not depend on the prompt).").BoolVar(&o.cfg.PrefixCache.Enabled)
	cmd.Flag("prefix-cache.blocks", "Prefix cache capacity, in blocks of 16 tokens (least recently used evicted first).").Default(strconv.Itoa(sim.DefaultPrefixCacheBlocks)).IntVar(&o.cfg.PrefixCache.Blocks)
	cmd.Flag("prefix-cache.prefill-share", "Share of TTFT that prefill takes: cached tokens save it in proportion, TTFT*(1 - share*cached/prompt).").Default(strconv.FormatFloat(sim.DefaultPrefillShare, 'g', -1, 64)).Float64Var(&o.cfg.PrefixCache.PrefillShare)
	return o
}

func runSim(logger *slog.Logger, g *globals, o *simOptions) int {
	if err := o.cfg.Validate(); err != nil {
		fmt.Fprintln(g.stderr, err)
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, addr, err := sim.Listen(ctx, o.listen, o.cfg)
	if err != nil {
		logger.Error("cannot listen", "err", err)
		return exitError
	}
	fmt.Fprintf(g.stdout, "llmprobe sim: serving model %q at http://%s/v1, its vLLM-named metrics at http://%s/metrics (Ctrl-C stops)\n", o.cfg.Model, addr, addr)
	<-ctx.Done()
	return exitOK
}
