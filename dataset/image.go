package dataset

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
)

// MaxImageBytes bounds an image file (OpenAI's limit for one image).
const MaxImageBytes = 20 << 20

// ImageType returns the media type of an image from its first bytes:
// image/png or image/jpeg; "" for anything else.
func ImageType(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	}
	return ""
}

// Image reads a PNG or JPEG file and returns it as a data: URI
// ("data:image/png;base64,..."), the form chat requests carry in an
// image_url part. The type is read from the file's content, not its name.
func Image(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", &Error{File: path, Msg: "not a regular file"}
	}
	if fi.Size() > MaxImageBytes {
		return "", &Error{File: path, Msg: fmt.Sprintf("larger than %d MiB", MaxImageBytes>>20)}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxImageBytes+1))
	if err != nil {
		return "", &Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	if len(b) > MaxImageBytes {
		return "", &Error{File: path, Msg: fmt.Sprintf("larger than %d MiB", MaxImageBytes>>20)}
	}
	typ := ImageType(b)
	if typ == "" {
		return "", &Error{File: path, Msg: "not a PNG or JPEG image"}
	}
	return "data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(b), nil
}
