package workload

import (
	"context"
	"sync"
	"testing"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

// answerRecorder forwards to a real client and keeps what each request
// sent and what the server answered.
type answerRecorder struct {
	c       *probe.Client
	mu      sync.Mutex
	sent    [][]probe.Message
	answers []string
}

func (a *answerRecorder) Do(ctx context.Context, req probe.Request) *probe.Record {
	return a.c.Do(ctx, req)
}

func (a *answerRecorder) DoAnswer(ctx context.Context, req probe.Request) (*probe.Record, string) {
	rec, text := a.c.DoAnswer(ctx, req)
	a.mu.Lock()
	a.sent = append(a.sent, req.Messages)
	a.answers = append(a.answers, text)
	a.mu.Unlock()
	return rec, text
}

// With history: server each turn sends back the server's own answers,
// streamed, not the dataset's: the assistant messages of turn n are
// exactly the text the simulator streamed for turns 1..n-1.
func TestConversationHistoryServer(t *testing.T) {
	for _, stream := range []bool{true, false} {
		c := startSim(t, 0)
		if !stream {
			ep := c.Endpoint()
			ep.Stream = false
			c = probe.NewClient(ep)
			t.Cleanup(c.CloseIdle)
		}
		rec := &answerRecorder{c: c}
		w := config.Workload{Name: "conv", Dataset: writeConversations(t, threeTurns), Seed: 3,
			OutputTokens: config.DecodeOptions{NumTokens: 6},
			Conversation: &config.Conversation{History: config.HistoryServer, HoldSlot: true}}
		r, err := load.New(rec, newGen(t, w, config.KindChat), load.Options{Mode: load.ModeThroughput, VUs: 1, NumRequests: 1}, load.Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		res := r.Run(context.Background())
		if res.Summary.Successful != 3 || len(rec.sent) != 3 {
			t.Fatalf("stream %v: %d successful, %d sent, want one conversation of 3 turns", stream, res.Summary.Successful, len(rec.sent))
		}
		for turn := 1; turn < 3; turn++ {
			msgs := rec.sent[turn]
			var got []string
			for _, m := range msgs {
				if m.Role == "assistant" {
					got = append(got, m.Content)
				}
			}
			if len(got) != turn {
				t.Fatalf("stream %v: turn %d sends %d answers, want %d", stream, turn+1, len(got), turn)
			}
			for i, text := range got {
				if text == "" || text != rec.answers[i] {
					t.Errorf("stream %v: turn %d's answer %d is %q, the server streamed %q", stream, turn+1, i+1, text, rec.answers[i])
				}
				if text == threeTurns[2+2*i].Content {
					t.Errorf("stream %v: turn %d sends the dataset's answer", stream, turn+1)
				}
			}
		}
	}
}
