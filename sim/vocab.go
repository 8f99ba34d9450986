package sim

// The simulated model "says" these pieces in order, one per token, starting
// at a per-request offset and wrapping around. Every piece is plain ASCII
// that needs no JSON escaping, so it is appended to chunks as is.
var contentVocab = [...]string{
	"The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ",
	"dog", ". ", "A ", "simulated ", "model ", "streams ", "one ", "token ",
	"at ", "a ", "time", ", ", "and ", "every ", "token ", "arrives ",
	"on ", "schedule", ". ", "Latency ", "is ", "what ", "you ", "configured",
	". ", "Monitoring ", "works ", "without ", "a ", "GPU", "; ", "queues ",
	"grow ", "under ", "load ", "like ", "a ", "real ", "server", ". ",
	"Measure ", "time ", "to ", "first ", "token", ", ", "inter", "-token ",
	"latency ", "and ", "throughput ", "with ", "care", ". ", "The ", "end",
}

var reasoningVocab = [...]string{
	"Let ", "me ", "think ", "about ", "this ", "step ", "by ", "step", ". ",
	"First", ", ", "the ", "user ", "asks ", "for ", "an ", "answer", ". ",
	"I ", "should ", "consider ", "the ", "question ", "carefully ", "and ",
	"then ", "reply ", "briefly", ". ", "Okay", ", ", "done", ". ",
}

func contentToken(i int) string   { return contentVocab[i%len(contentVocab)] }
func reasoningToken(i int) string { return reasoningVocab[i%len(reasoningVocab)] }
