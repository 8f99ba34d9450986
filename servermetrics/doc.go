// Package servermetrics reads a model server's own /metrics page into one
// vocabulary (issue 13, first part): Scraper fetches and parses the page with
// prometheus/common's expfmt (text, OpenMetrics and delimited protobuf, classic
// and native histograms), FromFamilies maps it through Table into a Snapshot,
// and Delta turns two snapshots into a Window of counter increases and histogram
// deltas (mean and quantiles from the delta's buckets). A counter or histogram
// that went backwards is a reset, listed in Window.Resets (the server
// restarted); its increase is then the later value, never negative.
//
// # Scraping
//
// Scraper sends an Accept header that prefers protobuf (the only format with
// native histograms), then text, then anything; an optional bearer key (never
// in errors or logs); a body cap (DefaultMaxBytes, 16 MiB: a bigger page, by
// Content-Length or by reading one byte past the cap, is an error naming the
// cap and nothing more is read); and a timeout over the request and body
// (DefaultTimeout, 5 s). Errors are *Error: the URL with its password
// redacted (url.URL.Redacted) and the reason: "HTTP 404 Not Found", "not a
// metrics exposition (Content-Type ...)" or "(an HTML page)", "page larger than
// the 16 MiB cap", "timed out after 5s", "unparsable exposition: ...".
//
// # The vocabulary
//
// Table is the one table; several rows of a server for the same name are
// alternatives, the first whose families are all on the page wins (newest
// name first). Series of a family are added (Mean for ratios, one KV cache per
// engine). Row.Scale converts units where a server differs; no current row needs
// it (vLLM's kv_cache_usage_perc is a 0-1 fraction despite its name, llama.cpp
// already converts its milliseconds to seconds), the mechanism is tested.
// Auto detection (Detect) picks the server with the most families in its
// namespace (vllm:, sglang:, tgi_, llamacpp:), else Generic.
//
//	our name                    kind       vllm                                        sglang                               tgi                                   llamacpp
//	requests_running            gauge      num_requests_running                        num_running_reqs                     tgi_batch_current_size                requests_processing
//	requests_waiting            gauge      num_requests_waiting                        num_queue_reqs                       tgi_queue_size                        requests_deferred
//	kv_cache_usage_ratio        gauge      kv_cache_usage_perc (v0.10+), else          token_usage                          -                                     kv_cache_usage_ratio (older builds;
//	                                       gpu_cache_usage_perc (older; removed)                                                                                    gone from current ones)
//	prefix_cache_hits_total     counter    prefix_cache_hits_total (V1), else          cached_tokens_total                  -                                     prompt_tokens_cached_total
//	                                       gpu_prefix_cache_hits_total
//	prefix_cache_queries_total  counter    prefix_cache_queries_total (V1), else       prompt_tokens_total                  -                                     prompt_tokens_total + prompt_tokens_cached_total
//	                                       gpu_prefix_cache_queries_total
//	preemptions_total           counter    num_preemptions_total                       num_retracted_requests_total         -                                     -
//	prompt_tokens_total         counter    prompt_tokens_total                         prompt_tokens_total                  tgi_request_input_length (its sum)    prompt_tokens_total + prompt_tokens_cached_total
//	generation_tokens_total     counter    generation_tokens_total                     generation_tokens_total              tgi_request_generated_tokens (sum)    tokens_predicted_total
//	prefill_seconds_total       counter    request_prefill_time_seconds (its sum)      -                                    -                                     prompt_seconds_total
//	decode_seconds_total        counter    request_decode_time_seconds (its sum)       -                                    -                                     tokens_predicted_seconds_total
//	ttft_seconds                histogram  time_to_first_token_seconds                 time_to_first_token_seconds          -                                     -
//	itl_seconds                 histogram  inter_token_latency_seconds, else           inter_token_latency_seconds, else    -                                     -
//	                                       time_per_output_token_seconds (deprecated   time_per_output_token_seconds
//	                                       in v0.11, removed); per output event, not
//	                                       per token (vLLM #52853)
//	tpot_seconds                histogram  request_time_per_output_token_seconds       -                                    tgi_request_mean_time_per_token_duration  -
//	                                       (v0.11+, per request)
//	queue_time_seconds          histogram  request_queue_time_seconds                  queue_time_seconds                   tgi_request_queue_duration            -
//	prefill_time_seconds        histogram  request_prefill_time_seconds                -                                    -                                     -
//	decode_time_seconds         histogram  request_decode_time_seconds                 -                                    -                                     -
//	e2e_latency_seconds         histogram  e2e_request_latency_seconds                 e2e_request_latency_seconds          tgi_request_duration                  -
//	resident_memory_bytes       gauge      process_resident_memory_bytes (any server whose Prometheus client has the process collector: vLLM, SGLang)
//
// (vllm:, sglang: and llamacpp: prefixes left out above.) Each row's Version
// field says where its name comes from; the sources are cited on Table.
//
// # Done and not done
//
// Done: the scraper, the table, detection, snapshots, deltas with reset
// detection, quantiles (classic and native, native deltas across schema
// changes by downscaling), tests over the two captures in testdata/ and
// pages written from SGLang's and TGI's sources, httptest failures (404, HTML,
// an endless page stopped at the cap, a hang past the timeout), a native
// histogram over protobuf from client_golang, FuzzParse. Sampler: a run's
// timeline every interval, whole snapshots at marks (load.ServerSampler
// marks each step's start and end), backoff on a failing page, a derived
// page given up after its first failure, the settle after a drain. The
// wiring (issue 13): the target config (config.Target.ServerScraper),
// archive.RunJob's server timeline for soaks, bench and stress, the step
// views, latency breakdown and health verdicts (load.AttachServer), the
// daemon's scrapes around probes and its page-health and gap metrics
// (collector.ServerMetrics, daemon.ServerWatch), bench's flags and Server
// block, README "What the server says".
//
// Not done: selecting one model's series by label (all series of a family
// are combined, so a server with several models reads as one), native
// histograms with custom buckets (schema -53), summaries, the target's
// extra headers on the metrics request (only its key is sent).
package servermetrics
