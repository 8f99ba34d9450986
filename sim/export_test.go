package sim

// HoldDecoding makes every request that gets a decode slot wait there,
// before its TTFT starts, until release is called: a barrier that keeps
// the running and waiting counts still while a test looks at them. Call it
// before the server gets requests.
func HoldDecoding(s *Server) (release func()) {
	s.hold = make(chan struct{})
	return func() { close(s.hold) }
}
