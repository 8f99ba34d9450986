package servermetrics

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultEvery is a Sampler's default interval.
const DefaultEvery = time.Second

// maxPoints is MaxPoints, lowered by tests.
var maxPoints = MaxPoints

// maxBackoff bounds the wait between scrapes of a page that keeps failing:
// a broken page is retried, but not every second for hours.
const maxBackoff = 30 * time.Second

// Sampler scrapes one page during a run: every interval into a Timeline
// (one Point per successful scrape), and at once when asked to Mark a
// moment, keeping that scrape's whole Snapshot (histogram buckets included)
// under its key, so that the window between two marks has exact deltas. Only
// marks keep histograms: a day of whole snapshots would not fit in memory.
//
// A page that fails is retried with a doubling wait (up to 30 s) until it
// answers again. A Derived page (the URL guessed from the target's) that
// fails its first scrape is given up for the run: many servers have none,
// and asking every second would only fill their logs.
type Sampler struct {
	s     *Scraper
	every time.Duration
	ctx   context.Context
	stop  context.CancelFunc
	marks chan string
	quit  chan struct{}
	done  chan struct{}
	ready chan struct{} // closed when the first scrape is done

	mu      sync.Mutex
	tl      Timeline
	snaps   map[string]Snapshot
	stride  int       // periodic points are kept every stride intervals (thinning)
	nextDue time.Time // the next periodic point kept is one at or after it
	streak  int       // failures in a row
	gaveUp  string
}

// StartSampler starts scraping s at once and then every interval (0 means
// DefaultEvery); the first scrape is marked "start". Stop it with Stop.
func StartSampler(ctx context.Context, s *Scraper, every time.Duration) *Sampler {
	if every <= 0 {
		every = DefaultEvery
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Sampler{
		s: s, every: every, ctx: ctx, stop: cancel,
		marks: make(chan string, 64), quit: make(chan struct{}), done: make(chan struct{}), ready: make(chan struct{}),
		snaps: map[string]Snapshot{}, stride: 1,
		tl: Timeline{URL: redacted(s.URL), Server: s.Server, EveryS: every.Seconds()},
	}
	go p.loop()
	return p
}

// MarkStart is the key of a sampler's first scrape.
const MarkStart = "start"

func (p *Sampler) loop() {
	defer close(p.done)
	p.scrape(MarkStart)
	close(p.ready)
	t := time.NewTimer(p.wait())
	defer t.Stop()
	for {
		select {
		case key := <-p.marks:
			p.scrape(key)
		case <-t.C:
			p.scrape("")
			t.Reset(p.wait())
		case <-p.quit:
			for { // the marks asked for before Stop are still taken
				select {
				case key := <-p.marks:
					p.scrape(key)
				default:
					return
				}
			}
		}
		if p.stopped() {
			return
		}
	}
}

// Ready is closed once the first scrape (the start mark) is done, failed
// or not.
func (p *Sampler) Ready() <-chan struct{} { return p.ready }

// wait is the time to the next periodic scrape: the interval, doubled for
// each failure in a row, up to maxBackoff (or the interval, if longer).
func (p *Sampler) wait() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.every
	for i := 0; i < p.streak && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, max(maxBackoff, p.every))
}

func (p *Sampler) stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gaveUp != ""
}

// scrape takes one scrape; key "" is a periodic one, others are marks.
func (p *Sampler) scrape(key string) {
	if p.stopped() {
		return
	}
	snap, err := p.s.Scrape(p.ctx)
	p.record(key, key == "", snap, err)
}

// record stores a scrape: a periodic one as a point (one in stride), a
// mark's or a settle's always, and a mark's whole snapshot under key.
func (p *Sampler) record(key string, periodic bool, snap Snapshot, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil && err != nil {
		return // canceled by Stop: not a failure of the page
	}
	p.tl.Scrapes++
	if err != nil {
		p.tl.Failures++
		p.tl.LastError = err.Error()
		p.streak++
		if p.s.Derived && p.tl.Failures == p.tl.Scrapes {
			p.gaveUp = "no metrics page at the URL derived from the target's: " + err.Error()
		}
		return
	}
	p.streak = 0
	p.tl.Server = snap.Server
	if key != "" {
		p.snaps[key] = snap
	}
	if periodic {
		if snap.Time.Before(p.nextDue) {
			return
		}
		p.nextDue = snap.Time.Add(p.spacing() - p.every/2)
	}
	p.tl.Points = append(p.tl.Points, PointOf(snap))
	if len(p.tl.Points) >= maxPoints {
		// Keep the whole run at half the resolution rather than its
		// first day only.
		kept := p.tl.Points[:0]
		for i, pt := range p.tl.Points {
			if i%2 == 0 {
				kept = append(kept, pt)
			}
		}
		p.tl.Points = kept
		p.stride *= 2
		p.tl.EveryS = p.spacing().Seconds()
		p.nextDue = kept[len(kept)-1].Time.Add(p.spacing() - p.every/2)
	}
}

// spacing is the time between periodic points: the interval times the stride.
func (p *Sampler) spacing() time.Duration { return p.every * time.Duration(p.stride) }

// PointOf is a snapshot as a timeline point: its values, and each
// histogram's count and sum as NAME_count and NAME_sum.
func PointOf(s Snapshot) Point {
	v := make(map[string]float64, len(s.Values)+2*len(s.Hists))
	for k, x := range s.Values {
		v[k] = x
	}
	for k, h := range s.Hists {
		v[k+"_count"] = h.Count
		v[k+"_sum"] = h.Sum
	}
	return Point{Time: s.Time, Values: v}
}

// Mark asks for a scrape now, its snapshot kept under key (a later mark of
// the same key replaces it). It does not wait; a sampler that gave up
// ignores it.
func (p *Sampler) Mark(key string) {
	select {
	case p.marks <- key:
	default: // 64 marks waiting: the page is far slower than the run's steps
	}
}

// Stop ends the periodic scrapes after taking the marks already asked for.
func (p *Sampler) Stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
}

// Close stops the sampler and cancels a scrape in flight.
func (p *Sampler) Close() {
	p.stop()
	p.Stop()
}

// Settle scrapes every poll (after Stop) until done says the page has
// settled or within has passed, and returns the last snapshot read with
// whether it settled; each scrape is a timeline point and the last is
// marked key. ok is false when no scrape succeeded.
func (p *Sampler) Settle(ctx context.Context, key string, within, poll time.Duration, done func(Snapshot) bool) (last Snapshot, settled, ok bool) {
	if p.stopped() {
		return Snapshot{}, false, false
	}
	deadline := time.Now().Add(within)
	for {
		snap, err := p.s.Scrape(ctx)
		p.record("", false, snap, err)
		if err == nil {
			last, ok = snap, true
			if done(snap) {
				settled = true
				break
			}
		}
		if time.Now().Add(poll).After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
	if ok {
		p.mu.Lock()
		p.snaps[key] = last
		p.mu.Unlock()
	}
	return last, settled, ok
}

// Timeline returns a copy of the timeline so far.
func (p *Sampler) Timeline() *Timeline {
	p.mu.Lock()
	defer p.mu.Unlock()
	tl := p.tl
	tl.Points = append([]Point(nil), p.tl.Points...)
	return &tl
}

// Snapshot returns the snapshot marked key.
func (p *Sampler) Snapshot(key string) (Snapshot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.snaps[key]
	return s, ok
}

// Marks returns every marked snapshot by key.
func (p *Sampler) Marks() map[string]Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]Snapshot, len(p.snaps))
	for k, s := range p.snaps {
		out[k] = s
	}
	return out
}

// Note says in words why the timeline has no points, or how many scrapes
// failed; "" when every scrape succeeded.
func (p *Sampler) Note() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.gaveUp != "":
		return p.gaveUp + "; set metrics_url to the server's page, or metrics_url: none"
	case p.tl.Scrapes == 0:
		return "the metrics page gave no answer during the run"
	case len(p.tl.Points) == 0 && p.tl.Failures > 0:
		return fmt.Sprintf("the metrics page could not be read (%d of %d scrapes failed; last: %s)", p.tl.Failures, p.tl.Scrapes, p.tl.LastError)
	case p.tl.Failures > 0:
		return fmt.Sprintf("%d of %d scrapes of the metrics page failed (last: %s)", p.tl.Failures, p.tl.Scrapes, p.tl.LastError)
	}
	return ""
}
