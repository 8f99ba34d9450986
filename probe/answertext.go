package probe

import "context"

// DoAnswer sends req as Do does and also returns the text the server
// answered (its content, streamed or not; reasoning is left out, as chat
// clients leave it out of the history they send back). A conversation that
// replays the server's own answers (history: server) needs it.
func (c *Client) DoAnswer(ctx context.Context, req Request) (*Record, string) {
	spec := AnswerSpec{KeepText: true}
	if req.Answer != nil {
		spec = *req.Answer
		spec.KeepText = true
	}
	req.Answer = &spec
	rec := c.Do(ctx, req)
	return rec, rec.Answer
}
