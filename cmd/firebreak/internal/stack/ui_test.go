package stack_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// chromium finds a headless-capable Chromium: $FIREBREAK_CHROMIUM, then
// Debian's chromium (installed by .ci/test.sh), then other usual names. The
// test fails — it never skips — when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FIREBREAK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found for the incident page test: install Debian's chromium package " +
		"(`apt-get install -y chromium`; .ci/test.sh does this when it is missing) or set FIREBREAK_CHROMIUM to a Chromium binary")
	return ""
}

// The incident pages, as a person sees them: sign in with a read token, the
// list shows the incident, its page shows a timeline with each step. The
// screenshot must show the timeline (not a blank or error page): its region
// holds the green markers of the succeeded steps.
func TestIncidentPagesInChromium(t *testing.T) {
	bin := chromium(t)
	e := start(t, stack.Options{})
	_, _, id := leakAlert(t, e, "acme/payments-api", 81, "d-ui")
	waitState(t, e, id, incident.Contained)
	tok := newToken(t, e, "viewer", tokens.Read)

	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/ui/incidents"), // redirects to the sign-in page
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), tok),
		chromedp.Submit(chromedp.CSS(`input[name="token"]`)),
		chromedp.WaitVisible(chromedp.ID("incidents")),
	); err != nil {
		t.Fatalf("driving Chromium (%s) through sign-in: %v", bin, err)
	}
	listText, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("incidents")))
	must(t, err)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/ui/incidents/`+id+`"]`)),
		chromedp.WaitVisible(chromedp.ID("timeline")),
	); err != nil {
		t.Fatalf("opening the incident page: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	must(t, err)
	timelineText, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("timeline")))
	must(t, err)
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID("timeline")))
	must(t, err)
	if !strings.Contains(listText, id) || !strings.Contains(listText, "contained") {
		t.Fatalf("incident list:\n%s", listText)
	}
	if !strings.Contains(title, id) {
		t.Fatalf("page title %q", title)
	}
	for _, want := range []string{"received", "matched", "verified", "revoked", "notified", "provider.revoke", "contained"} {
		if !strings.Contains(timelineText, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timelineText)
		}
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 300 || b.Dy() < 150 {
		t.Fatalf("timeline screenshot is %dx%d: too small to hold the steps", b.Dx(), b.Dy())
	}
	white, green := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r > 245 && g > 245 && bl > 245 {
				white++
			}
			// #1a7f37, the marker and border of a succeeded step.
			if absDiff(r, 0x1a) < 24 && absDiff(g, 0x7f) < 24 && absDiff(bl, 0x37) < 24 {
				green++
			}
		}
	}
	total := b.Dx() * b.Dy()
	if white > total*97/100 {
		t.Fatalf("the timeline region is blank (%d of %d pixels white)", white, total)
	}
	if green < 200 {
		t.Fatalf("the timeline shows no succeeded steps: %d green pixels", green)
	}
	if dir := os.Getenv("FIREBREAK_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(dir+"/incident-timeline.png", shot, 0o644)
	}
	_ = image.Point{}
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
