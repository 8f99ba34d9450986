package dataset

import (
	"bytes"
	"encoding/base64"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageFixtures(t *testing.T) {
	for file, typ := range map[string]string{"../testdata/probe-4x4.png": "image/png", "../testdata/probe-4x4.jpg": "image/jpeg"} {
		uri, err := Image(file)
		if err != nil {
			t.Fatal(err)
		}
		prefix := "data:" + typ + ";base64,"
		if !strings.HasPrefix(uri, prefix) {
			t.Fatalf("%s: %.40s...", file, uri)
		}
		b, err := base64.StdEncoding.DecodeString(uri[len(prefix):])
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s does not decode: %v", file, err)
		}
		if img.Bounds().Dx() != 4 || img.Bounds().Dy() != 4 {
			t.Errorf("%s: %v", file, img.Bounds())
		}
	}
	p := filepath.Join(t.TempDir(), "x.png")
	if err := os.WriteFile(p, []byte("GIF89a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Image(p); err == nil || err.Error() != p+": not a PNG or JPEG image" {
		t.Errorf("GIF: %v", err)
	}
}
