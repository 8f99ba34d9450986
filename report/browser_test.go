package report

import (
	"bytes"
	"context"
	"encoding/json"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/stress"
)

// chromium returns the browser and the flags to run it headless, or skips
// the test where it is not installed (it fails in CI, where
// scripts/install-tools.sh installs it), as the status page's test does.
func chromium(t *testing.T, dir string) (string, []string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not found: scripts/install-tools.sh installs it")
		}
		t.Skip("chromium not installed; scripts/install-tools.sh installs it")
	}
	return bin, []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1280,2400"}
}

func fileURL(path string) string {
	abs, _ := filepath.Abs(path)
	return "file://" + filepath.ToSlash(abs)
}

// TestReportInChromium opens the report from disk in a real browser: the
// rendered page has every chart, each SVG its axis labels with units, the
// data beside each chart matches the procedure.json it was built from, and
// a screenshot is not blank.
func TestReportInChromium(t *testing.T) {
	work := t.TempDir()
	bin, args := chromium(t, work)
	dir, _ := writeReport(t, fullProcedure(30*time.Minute))
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	url := fileURL(filepath.Join(dir, HTMLFile))
	dom, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	page := string(dom)
	if !strings.Contains(page, "<h1>Stress procedure") {
		t.Fatalf("chromium rendered no report:\n%.2000s", page)
	}
	for _, id := range allCharts {
		svg := svgOf(page, id)
		if svg == "" {
			t.Errorf("rendered page lacks chart %s", id)
			continue
		}
		for _, l := range axisLabels[id] {
			if !strings.Contains(svg, ">"+l+"<") {
				t.Errorf("rendered chart %s lacks the axis label %q", id, l)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "procedure.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p stress.Procedure
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	checkChartsMatch(t, &p, chartData(t, page))

	shot := filepath.Join(work, "report.png")
	if out, err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, url)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	sb, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(sb))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if n := distinctColours(img); n < 50 {
		t.Errorf("screenshot has %d colours: blank?", n)
	}
	// Ink: a blank or unstyled page is nearly all white.
	var ink, all int
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y += 2 {
		for x := bd.Min.X; x < bd.Max.X; x += 2 {
			all++
			if c := color.GrayModel.Convert(img.At(x, y)).(color.Gray); c.Y < 200 {
				ink++
			}
		}
	}
	if ink*100 < all {
		t.Errorf("screenshot is %d %% ink: blank?", ink*100/all)
	}
	if p := os.Getenv("LLMPROBE_SCREENSHOT"); p != "" {
		_ = os.WriteFile(p, sb, 0o644)
	}
}

// TestComparisonInChromium renders the before/after page in the browser.
func TestComparisonInChromium(t *testing.T) {
	work := t.TempDir()
	bin, args := chromium(t, work)
	before, after := fullProcedure(0), fullProcedure(0)
	after.ID = "after"
	dir := t.TempDir()
	if err := WriteComparison(before, after, dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", fileURL(filepath.Join(dir, CompareFile)))...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	page := string(dom)
	for _, id := range []string{ChartThroughputP99, ChartRateErrors} {
		if svgOf(page, id) == "" {
			t.Errorf("comparison lacks chart %s", id)
		}
	}
	if !strings.Contains(page, `data-side="before"`) || !strings.Contains(page, `data-side="after"`) {
		t.Error("comparison lacks its two columns")
	}
}
