package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
	"unicode/utf8"
)

// Chat, vision and completions responses: a text/event-stream of chunks,
// or one body when the endpoint does not stream. The stream is the hot
// path: one reused buffer (SSEReader) and one reused chunk per stream, so
// that reading a chunk does not allocate.

// readGeneration reads a chat or completions response.
func (c *Client) readGeneration(ctx context.Context, rec *Record, req *Request, body io.Reader, mediaType string) {
	if !c.ep.Stream {
		c.readPlain(ctx, rec, req.Answer, body)
		return
	}
	if mediaType != "text/event-stream" {
		rec.End = c.now()
		c.fail(rec, ResultProtocol, fmt.Errorf("expected text/event-stream, got %q", mediaType))
		return
	}
	c.readStream(ctx, rec, req.Answer, body)
}

// chunk is the part of a streamed chunk we read. Text fields are kept raw:
// we only need to know whether they are non-empty, and RawMessage reuses its
// buffer when the struct is reused, so parsing does not allocate per chunk.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent json.RawMessage `json:"reasoning_content"`
			Reasoning        json.RawMessage `json:"reasoning"`  // some servers' name for it
			ToolCalls        json.RawMessage `json:"tool_calls"` // read by answer.addCalls
		} `json:"delta"`
		Text         json.RawMessage `json:"text"` // completions
		FinishReason json.RawMessage `json:"finish_reason"`
	} `json:"choices"`
	Usage   *usage          `json:"usage"`
	Timings *timings        `json:"timings"` // llama.cpp
	Error   json.RawMessage `json:"error"`
}

// usage's details are values, not pointers, so that decoding a usage into a
// reused one does not allocate (null or absent details read as zero).
type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

type timings struct {
	PromptMS    float64 `json:"prompt_ms"`
	PredictedMS float64 `json:"predicted_ms"`
}

func (t *timings) prefill() time.Duration { return msDuration(t.PromptMS) }
func (t *timings) decode() time.Duration  { return msDuration(t.PredictedMS) }

// msDuration converts milliseconds to a Duration, rounded to the nearest
// nanosecond (truncation would turn 1.001ms into 1.000999ms).
func msDuration(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

// nonEmptyString reports whether raw is a JSON string with content.
func nonEmptyString(raw json.RawMessage) bool {
	return len(raw) > 2 && raw[0] == '"'
}

// finishReason unquotes a finish_reason string, without allocating for
// the usual ones.
func finishReason(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		switch s := raw[1 : len(raw)-1]; string(s) {
		case "stop":
			return "stop"
		case "length":
			return "length"
		case "tool_calls":
			return "tool_calls"
		default:
			return string(s)
		}
	}
	var fr string
	_ = json.Unmarshal(raw, &fr)
	return fr
}

func (ch *chunk) reset() {
	for i := range ch.Choices {
		c := &ch.Choices[i]
		c.Delta.Content = c.Delta.Content[:0]
		c.Delta.ReasoningContent = c.Delta.ReasoningContent[:0]
		c.Delta.Reasoning = c.Delta.Reasoning[:0]
		c.Delta.ToolCalls = c.Delta.ToolCalls[:0]
		c.Text = c.Text[:0]
		c.FinishReason = c.FinishReason[:0]
	}
	ch.Choices = ch.Choices[:0]
	ch.Usage = nil
	ch.Timings = nil
	ch.Error = ch.Error[:0]
}

// chunkDecoder reads each event's JSON into view: by the cheap scan
// (chunkscan.go) when it can decide, else by the full decode into one
// reused chunk. The full decode keeps a json.Decoder across events because
// json.Unmarshal builds its decoding state afresh on every call (about
// eight allocations per chunk); the Decoder reuses it, and its buffer,
// from one event to the next.
type chunkDecoder struct {
	sse  SSEReader // its buffers, reused from one stream to the next
	view chunkView
	ch   chunk
	u    usage   // where a chunk's usage is decoded, instead of a new one
	t    timings // where the scan puts a chunk's timings
	rd   bytes.Reader
	dec  *json.Decoder
	fed  int64 // bytes given to dec so far: its offsets count from there
}

var errTrailingData = errors.New("data after the JSON value")

// decode reads one event's data. Like json.Unmarshal, it accepts exactly
// one JSON value with optional white space around it.
func (d *chunkDecoder) decode(data []byte) (*chunkView, error) {
	if d.scan(data) {
		return &d.view, nil
	}
	if err := d.full(data); err != nil {
		return nil, err
	}
	d.viewChunk()
	return &d.view, nil
}

// full decodes data into d.ch with encoding/json.
func (d *chunkDecoder) full(data []byte) error {
	if d.dec == nil {
		d.rd.Reset(nil)
		d.dec = json.NewDecoder(&d.rd)
		d.fed = 0
	}
	d.ch.reset()
	// A present usage object is decoded into d.u; null sets the pointer to
	// nil. The sentinel tells an absent usage (pointer left as it was)
	// from a present one.
	d.u = usage{PromptTokens: -1, CompletionTokens: -1}
	d.ch.Usage = &d.u
	start := d.fed
	d.rd.Reset(data)
	d.fed += int64(len(data))
	if err := d.dec.Decode(&d.ch); err != nil {
		d.dec = nil // a Decoder's read and syntax errors are sticky
		return err
	}
	for _, c := range data[d.dec.InputOffset()-start:] {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			d.dec = nil
			return errTrailingData
		}
	}
	if d.ch.Usage != nil {
		d.ch.Usage = d.u.present() // absent, or an empty object: none
	}
	return nil
}

// viewChunk points d.view at what the full decode left in d.ch.
func (d *chunkDecoder) viewChunk() {
	v := &d.view
	v.choices = v.choices[:0]
	for i := range d.ch.Choices {
		c := &d.ch.Choices[i]
		v.choices = append(v.choices, choiceView{
			content: c.Delta.Content, reasoningContent: c.Delta.ReasoningContent, reasoning: c.Delta.Reasoning,
			toolCalls: c.Delta.ToolCalls, text: c.Text, finishReason: c.FinishReason,
		})
	}
	v.usage, v.timings, v.err = d.ch.Usage, d.ch.Timings, d.ch.Error
}

var chunkPool = sync.Pool{New: func() any { return new(chunkDecoder) }}

// nonEmptyArray reports whether raw is a JSON array with elements.
func nonEmptyArray(raw json.RawMessage) bool {
	return len(raw) > 2 && raw[0] == '['
}

// readStream reads a chat or completions stream; spec (nil: none) is what
// the request asked of the answer, checked once the stream is complete.
func (c *Client) readStream(ctx context.Context, rec *Record, spec *AnswerSpec, body io.Reader) {
	dec := chunkPool.Get().(*chunkDecoder)
	defer func() {
		dec.sse.rd = nil // the body is not kept alive by the pool
		chunkPool.Put(dec)
	}()
	sse := &dec.sse
	sse.reset(body, maxEventBytes, c.now)
	chunks := 0    // output-carrying chunks
	lastUsage := 0 // completion tokens reported so far (continuous usage)
	done := false
	var ans *answer // what the answer holds, where it is checked or has tool calls
	if spec != nil {
		ans = newAnswer(spec)
	}
	for {
		ev, err := sse.Next()
		if err != nil {
			rec.End = c.now()
			if err == io.EOF {
				break
			}
			c.classifyErr(ctx, rec, err)
			c.finishTokens(rec, chunks)
			return
		}
		if string(ev.Data) == "[DONE]" {
			rec.End = ev.At
			done = true
			break
		}
		// JSON is UTF-8 (RFC 8259), and encoding/json would quietly turn
		// invalid bytes into U+FFFD, where the server's clients fail.
		if !utf8.Valid(ev.Data) {
			rec.End = ev.At
			c.fail(rec, ResultProtocol, fmt.Errorf("invalid UTF-8 in stream chunk %d", chunks+1))
			c.finishTokens(rec, chunks)
			return
		}
		ch, err := dec.decode(ev.Data)
		if err != nil {
			rec.End = ev.At
			c.fail(rec, ResultProtocol, fmt.Errorf("invalid JSON in stream chunk %d", chunks+1))
			c.finishTokens(rec, chunks)
			return
		}
		if len(ch.err) > 0 && string(ch.err) != "null" {
			rec.End = ev.At
			c.fail(rec, ResultProtocol, fmt.Errorf("error in stream: %s", errorMessage(ch.err)))
			c.finishTokens(rec, chunks)
			return
		}
		output, answer := false, false
		for i := range ch.choices {
			cc := &ch.choices[i]
			if nonEmptyString(cc.content) || nonEmptyString(cc.text) {
				output, answer = true, true
				if ans != nil {
					ans.addText(cc.content)
				}
			}
			if nonEmptyArray(cc.toolCalls) {
				// A tool call's name and argument fragments are the
				// answer's output: they count for TTFT and ITL.
				if ans == nil {
					ans = newAnswer(nil)
				}
				got, err := ans.addCalls(cc.toolCalls)
				if err != nil {
					rec.End = ev.At
					c.fail(rec, ResultProtocol, fmt.Errorf("stream chunk %d: %w", chunks+1, err))
					c.finishTokens(rec, chunks)
					return
				}
				if got {
					output, answer = true, true
				}
			}
			if nonEmptyString(cc.reasoningContent) || nonEmptyString(cc.reasoning) {
				output = true
			}
			if nonEmptyString(cc.finishReason) {
				rec.FinishReason = finishReason(cc.finishReason)
			}
		}
		if output {
			// TTFT: the first chunk carrying output of either kind; a
			// role-only first chunk has none and does not count.
			if rec.FirstToken.IsZero() {
				rec.FirstToken = ev.At
			}
			if answer && rec.FirstAnswer.IsZero() {
				rec.FirstAnswer = ev.At
			}
			k := int32(1)
			if ch.usage != nil && ch.usage.CompletionTokens > lastUsage {
				// continuous usage stats: this chunk's share of the tokens
				k = int32(ch.usage.CompletionTokens - lastUsage)
				lastUsage = ch.usage.CompletionTokens
			}
			rec.Chunks = append(rec.Chunks, ev.At.Sub(rec.Start))
			if k != 1 || rec.ChunkTokens != nil {
				if rec.ChunkTokens == nil {
					rec.ChunkTokens = make([]int32, len(rec.Chunks)-1, cap(rec.Chunks))
					for i := range rec.ChunkTokens {
						rec.ChunkTokens[i] = 1
					}
				}
				rec.ChunkTokens = append(rec.ChunkTokens, k)
			}
			chunks++
		}
		if ch.usage != nil {
			c.applyUsage(rec, ch.usage)
		}
		if ch.timings != nil {
			rec.ServerPrefill = ch.timings.prefill()
			rec.ServerDecode = ch.timings.decode()
		}
	}
	c.finishTokens(rec, chunks)
	switch {
	case done, rec.FinishReason != "":
		// A body that ends without [DONE] after a finish_reason is complete:
		// some servers omit the terminator.
		rec.Result = ResultSuccess
	default:
		c.fail(rec, ResultProtocol, errors.New("stream ended without [DONE] or finish_reason"))
	}
	if rec.Result == ResultSuccess && chunks == 0 {
		c.fail(rec, ResultProtocol, errors.New("stream carried no output tokens"))
	}
	if rec.Result == ResultSuccess && ans != nil {
		c.checkAnswer(rec, spec, ans)
	}
}

func (c *Client) applyUsage(rec *Record, u *usage) {
	rec.UsageReported = true
	rec.InputTokens = u.PromptTokens
	rec.OutputTokens = u.CompletionTokens
	rec.CachedTokens = u.PromptTokensDetails.CachedTokens
	rec.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
}

// finishTokens falls back to counting output chunks when the server sent no
// usage: an estimate, and the record says so (UsageReported false).
func (c *Client) finishTokens(rec *Record, chunks int) {
	if !rec.UsageReported {
		n := 0
		if rec.ChunkTokens != nil {
			for _, k := range rec.ChunkTokens {
				n += int(k)
			}
		} else {
			n = chunks
		}
		rec.OutputTokens = n
	}
}

type plainResponse struct {
	Choices []struct {
		Message struct {
			Content          *string         `json:"content"`
			ReasoningContent *string         `json:"reasoning_content"`
			ToolCalls        json.RawMessage `json:"tool_calls"`
		} `json:"message"`
		Text         *string `json:"text"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage   *usage          `json:"usage"`
	Timings *timings        `json:"timings"`
	Error   json.RawMessage `json:"error"`
}

func (c *Client) readPlain(ctx context.Context, rec *Record, spec *AnswerSpec, body io.Reader) {
	b, err := io.ReadAll(body)
	rec.End = c.now()
	if err != nil {
		c.classifyErr(ctx, rec, err)
		return
	}
	if !utf8.Valid(b) {
		c.fail(rec, ResultProtocol, errors.New("invalid UTF-8 in response body"))
		return
	}
	var pr plainResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		c.fail(rec, ResultProtocol, errors.New("invalid JSON response body"))
		return
	}
	if len(pr.Error) > 0 && string(pr.Error) != "null" {
		c.fail(rec, ResultProtocol, fmt.Errorf("error in response: %s", errorMessage(pr.Error)))
		return
	}
	if len(pr.Choices) == 0 {
		c.fail(rec, ResultProtocol, errors.New("response has no choices"))
		return
	}
	rec.FinishReason = pr.Choices[0].FinishReason
	if pr.Usage != nil {
		c.applyUsage(rec, pr.Usage)
	}
	if pr.Timings != nil {
		rec.ServerPrefill = pr.Timings.prefill()
		rec.ServerDecode = pr.Timings.decode()
	}
	rec.Result = ResultSuccess
	msg := &pr.Choices[0].Message
	if spec == nil && !nonEmptyArray(msg.ToolCalls) {
		return
	}
	ans := newAnswer(spec)
	if msg.Content != nil && ans.keepText {
		ans.text = append(ans.text, *msg.Content...)
	}
	if nonEmptyArray(msg.ToolCalls) {
		if _, err := ans.addCalls(msg.ToolCalls); err != nil {
			c.fail(rec, ResultProtocol, err)
			return
		}
	}
	c.checkAnswer(rec, spec, ans)
}
